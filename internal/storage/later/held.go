// Package later keeps values that their owner writes to the database later, readable and
// changeable from memory until then (Held).
package later

import (
	"cmp"
	"maps"
	"slices"
	"sync"
)

// Held are values that their owner writes later itself (not in the background): until it does,
// a reader gets the held value from memory and a change goes to the held value, so nothing waits
// for the write and the owner may read what it holds. The zero value is ready to use.
type Held[K comparable, V any] struct {
	mu   sync.Mutex
	vals map[K]held[V]
	next uint64 // the order of Put, which Write keeps
}

type held[V any] struct {
	v V
	n uint64
}

// Put holds v as the value of k, replacing one held before.
func (h *Held[K, V]) Put(k K, v V) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.vals == nil {
		h.vals = make(map[K]held[V])
	}
	h.next++
	h.vals[k] = held[V]{v, h.next}
}

// Get returns the value held for k.
func (h *Held[K, V]) Get(k K) (V, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.vals[k]
	return e.v, ok
}

// Update changes the value held for k with change, and reports whether one was held.
func (h *Held[K, V]) Update(k K, change func(v *V)) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.vals[k]
	if ok {
		change(&e.v)
		h.vals[k] = e
	}
	return ok
}

// Write hands every held value to write, in the order they were put, and forgets them,
// whatever write reports (its error is returned). Readers and changes wait meanwhile, so that
// none of them sees a value neither held nor written: keep one Held per writer (the storage keeps
// one per bot), so that they wait only for their own writer.
func (h *Held[K, V]) Write(write func([]V) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.vals) == 0 {
		return nil
	}
	es := slices.SortedFunc(maps.Values(h.vals), func(a, b held[V]) int { return cmp.Compare(a.n, b.n) })
	clear(h.vals)
	vs := make([]V, len(es))
	for i, e := range es {
		vs[i] = e.v
	}
	return write(vs)
}
