package storage

import "sync"

// lru is a fixed-size least-recently-used cache, safe for concurrent use.
// Entries form a doubly linked ring through root: root.next is the most
// recently used entry, root.prev the least.
type lru[K comparable, V any] struct {
	mu    sync.Mutex
	size  int
	items map[K]*lruEntry[K, V]
	root  lruEntry[K, V]
}

type lruEntry[K comparable, V any] struct {
	key        K
	value      V
	prev, next *lruEntry[K, V]
}

func newLRU[K comparable, V any](size int) *lru[K, V] {
	c := &lru[K, V]{size: max(size, 1), items: make(map[K]*lruEntry[K, V], size)}
	c.root.prev, c.root.next = &c.root, &c.root
	return c
}

func (c *lru[K, V]) get(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.moveToFront(e)
	return e.value, true
}

func (c *lru[K, V]) put(key K, value V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		e.value = value
		c.moveToFront(e)
		return
	}
	var e *lruEntry[K, V]
	if len(c.items) >= c.size {
		// Reuse the least recently used entry instead of allocating.
		e = c.root.prev
		c.unlink(e)
		delete(c.items, e.key)
		e.key, e.value = key, value
	} else {
		e = &lruEntry[K, V]{key: key, value: value}
	}
	c.items[key] = e
	c.pushFront(e)
}

func (c *lru[K, V]) remove(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.unlink(e)
		delete(c.items, key)
	}
}

func (c *lru[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

func (c *lru[K, V]) moveToFront(e *lruEntry[K, V]) {
	if c.root.next == e {
		return
	}
	c.unlink(e)
	c.pushFront(e)
}

func (c *lru[K, V]) unlink(e *lruEntry[K, V]) {
	e.prev.next = e.next
	e.next.prev = e.prev
}

func (c *lru[K, V]) pushFront(e *lruEntry[K, V]) {
	e.prev = &c.root
	e.next = c.root.next
	c.root.next.prev = e
	c.root.next = e
}

// idCache caches one id map in both directions. Mappings change only when
// DB.PinV11ID moves a user's number, which updates the cache in both directions.
type idCache struct {
	toV11    *lru[string, int64]
	toMatrix *lru[int64, string]
}

func newIDCache(size int) *idCache {
	return &idCache{toV11: newLRU[string, int64](size), toMatrix: newLRU[int64, string](size)}
}

func (c *idCache) put(matrixID string, v11 int64) {
	c.toV11.put(matrixID, v11)
	c.toMatrix.put(v11, matrixID)
}
