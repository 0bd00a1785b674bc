// Package later tracks writes that run in the background, by key, so that a read of a key waits
// for its write instead of missing it (read-your-writes), and a close waits for every write.
package later

import (
	"context"
	"sync"
)

// Writes are the background writes under way. The zero value is ready to use.
type Writes[K comparable] struct {
	mu      sync.Mutex
	pending map[K]chan struct{}
	wg      sync.WaitGroup
	closed  bool // Close has begun: no write starts any more
	// Hook, when set (tests), runs in each background write before it starts.
	Hook func()
}

// Start runs write in the background as the write of key, or reports false (and runs nothing)
// once Close has begun.
func (w *Writes[K]) Start(key K, write func()) bool {
	done := make(chan struct{})
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false
	}
	if w.pending == nil {
		w.pending = make(map[K]chan struct{})
	}
	w.pending[key] = done
	w.wg.Add(1)
	hook := w.Hook
	w.mu.Unlock()
	go func() {
		defer w.wg.Done()
		defer func() {
			w.mu.Lock()
			if w.pending[key] == done {
				delete(w.pending, key)
			}
			w.mu.Unlock()
			close(done)
		}()
		if hook != nil {
			hook()
		}
		write()
	}()
	return true
}

// Await waits for the write of key, if one is under way, or for ctx to end (its error).
func (w *Writes[K]) Await(ctx context.Context, key K) error {
	w.mu.Lock()
	done := w.pending[key]
	w.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops new writes and waits for those under way.
func (w *Writes[K]) Close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.wg.Wait()
}
