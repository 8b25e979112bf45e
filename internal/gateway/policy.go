package gateway

import (
	"fmt"
	"hash/maphash"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/toolmesh/toolmesh/internal/ir"
)

const rateShards = 16

// rateLimiter holds token buckets per principal and tool, with a bound on their number and
// eviction of buckets left idle.
type rateLimiter struct {
	cfg     *ir.RateLimit
	seed    maphash.Seed
	shards  [rateShards]rateShard
	perKeys int
	idle    time.Duration
	now     func() time.Time

	sweepMu   sync.Mutex
	lastSweep atomic.Int64 // unix nanoseconds
}

type rateShard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

func newRateLimiter(cfg *ir.RateLimit) *rateLimiter {
	l := &rateLimiter{cfg: cfg, seed: maphash.MakeSeed(), idle: cfg.IdleTimeout.Duration, now: time.Now}
	l.perKeys = max(cfg.MaxKeys/rateShards, 1)
	for i := range l.shards {
		l.shards[i].buckets = map[string]*bucket{}
	}
	return l
}

func limitOf(requests, burst int, interval time.Duration) (rate.Limit, int) {
	if interval <= 0 {
		interval = time.Second
	}
	if burst <= 0 {
		burst = requests
	}
	return rate.Limit(float64(requests) / interval.Seconds()), burst
}

// allow takes one token for principal and tool; when none is left it returns how long to wait.
func (l *rateLimiter) allow(principal, tool string) (bool, time.Duration) {
	key := principal + "\x00" + tool
	sh := &l.shards[maphash.String(l.seed, key)%rateShards]
	now := l.now()
	l.maybeSweep(now)
	sh.mu.Lock()
	b := sh.buckets[key]
	if b == nil {
		l.makeRoomLocked(sh, now)
		r, burst := limitOf(l.cfg.Requests, l.cfg.Burst, l.cfg.Interval.Duration)
		if rule, ok := l.cfg.PerTool[tool]; ok {
			r, burst = limitOf(rule.Requests, rule.Burst, rule.Interval.Duration)
		}
		b = &bucket{lim: rate.NewLimiter(r, burst)}
		sh.buckets[key] = b
	}
	b.last = now
	sh.mu.Unlock()
	res := b.lim.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Second
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// maybeSweep evicts idle buckets from every shard, at most twice per idle timeout.
func (l *rateLimiter) maybeSweep(now time.Time) {
	if now.UnixNano()-l.lastSweep.Load() < int64(l.idle/2) || !l.sweepMu.TryLock() {
		return
	}
	defer l.sweepMu.Unlock()
	l.lastSweep.Store(now.UnixNano())
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		evictIdle(sh, now, l.idle)
		sh.mu.Unlock()
	}
}

func evictIdle(sh *rateShard, now time.Time, idle time.Duration) {
	for k, b := range sh.buckets {
		if now.Sub(b.last) > idle {
			delete(sh.buckets, k)
		}
	}
}

// makeRoomLocked evicts idle buckets of a full shard and, when it is still full, an arbitrary one.
func (l *rateLimiter) makeRoomLocked(sh *rateShard, now time.Time) {
	if len(sh.buckets) >= l.perKeys {
		evictIdle(sh, now, l.idle)
	}
	for k := range sh.buckets {
		if len(sh.buckets) < l.perKeys {
			break
		}
		delete(sh.buckets, k)
	}
}

// size returns the number of tracked buckets.
func (l *rateLimiter) size() int {
	n := 0
	for i := range l.shards {
		l.shards[i].mu.Lock()
		n += len(l.shards[i].buckets)
		l.shards[i].mu.Unlock()
	}
	return n
}

// credential is the header a route presents to its backends, read from a file when needed.
type credential struct {
	typ    ir.BackendAuthType
	header string
	file   string

	mu      sync.Mutex
	value   string
	info    os.FileInfo
	checked time.Time
}

func newCredential(a ir.BackendAuth) (*credential, error) {
	c := &credential{typ: a.Type, header: a.Header, file: a.File}
	if c.typ == ir.BackendAuthServiceAccountToken {
		c.header = "Authorization"
	}
	if c.file != "" {
		if _, err := c.current(time.Now()); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// current returns the file's value, re-reading it (at most once a second) when the file was
// replaced or changed; Kubernetes rotates mounted files by swapping a symlink.
func (c *credential) current(now time.Time) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.checked.IsZero() && now.Sub(c.checked) < time.Second {
		return c.value, nil
	}
	c.checked = now
	fi, err := os.Stat(c.file)
	if err != nil {
		return "", fmt.Errorf("backend credential: %w", err)
	}
	if c.info != nil && os.SameFile(fi, c.info) && fi.ModTime().Equal(c.info.ModTime()) && fi.Size() == c.info.Size() {
		return c.value, nil
	}
	b, err := os.ReadFile(c.file)
	if err != nil {
		return "", fmt.Errorf("backend credential: %w", err)
	}
	c.value = strings.TrimSpace(string(b))
	c.info = fi
	return c.value, nil
}

// apply sets the backend credential header for a call by cl.
func (c *credential) apply(h map[string][]string, cl *caller) error {
	switch c.typ {
	case ir.BackendAuthPassthrough:
		if cl != nil && cl.token != "" {
			h["Authorization"] = []string{"Bearer " + cl.token}
		}
	case ir.BackendAuthSecretHeader:
		v, err := c.current(time.Now())
		if err != nil {
			return err
		}
		h[canonicalHeader(c.header)] = []string{v}
	case ir.BackendAuthServiceAccountToken:
		v, err := c.current(time.Now())
		if err != nil {
			return err
		}
		h["Authorization"] = []string{"Bearer " + v}
	}
	return nil
}
