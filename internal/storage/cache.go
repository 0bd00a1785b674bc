package storage

import lru "github.com/hashicorp/golang-lru/v2"

// idCache caches one id map in both directions. Mappings change only when
// DB.PinV11ID moves a user's number, which updates the cache in both directions.
// Each direction is a fixed-size least-recently-used cache (hashicorp/golang-lru, safe for
// concurrent use).
type idCache struct {
	toV11    *lru.Cache[string, int64]
	toMatrix *lru.Cache[int64, string]
}

func newIDCache(size int) *idCache {
	size = max(size, 1)
	toV11, _ := lru.New[string, int64](size) // errors only for a size below 1
	toMatrix, _ := lru.New[int64, string](size)
	return &idCache{toV11: toV11, toMatrix: toMatrix}
}

func (c *idCache) put(matrixID string, v11 int64) {
	c.toV11.Add(matrixID, v11)
	c.toMatrix.Add(v11, matrixID)
}
