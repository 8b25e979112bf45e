package authn

import (
	"sync"
	"time"
)

// cacheShards is the number of independently locked cache shards.
const cacheShards = 16

// tokenKey is the SHA-256 digest of a raw token.
type tokenKey [32]byte

// cacheEntry is one verified token.
type cacheEntry struct {
	principal *Principal
	expires   time.Time
}

// tokenCache maps token digests to verified principals until the token's exp.
// It is bounded: a full shard first drops expired entries, then arbitrary ones.
type tokenCache struct {
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu      sync.RWMutex
	entries map[tokenKey]cacheEntry
}

// newTokenCache returns a cache holding at most size entries; size 0 disables caching.
func newTokenCache(size int) *tokenCache {
	c := &tokenCache{perShard: (size + cacheShards - 1) / cacheShards}
	for i := range c.shards {
		c.shards[i].entries = make(map[tokenKey]cacheEntry)
	}
	return c
}

// get returns the principal cached for key if it is still valid at now.
func (c *tokenCache) get(key tokenKey, now time.Time) (*Principal, bool) {
	if c.perShard == 0 {
		return nil, false
	}
	s := &c.shards[key[0]%cacheShards]
	s.mu.RLock()
	e, ok := s.entries[key]
	s.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.principal, true
}

// put caches p under key until expires.
func (c *tokenCache) put(key tokenKey, p *Principal, expires, now time.Time) {
	if c.perShard == 0 {
		return
	}
	s := &c.shards[key[0]%cacheShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) >= c.perShard {
		for k, e := range s.entries {
			if !now.Before(e.expires) {
				delete(s.entries, k)
			}
		}
		// Still full: drop arbitrary entries (map order) to make room for a quarter.
		for k := range s.entries {
			if len(s.entries) < c.perShard-c.perShard/4 {
				break
			}
			delete(s.entries, k)
		}
	}
	s.entries[key] = cacheEntry{principal: p, expires: expires}
}

// len returns the number of cached entries, expired ones included.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.entries)
		s.mu.RUnlock()
	}
	return n
}
