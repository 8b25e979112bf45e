package gateway

import (
	"fmt"
	"net/url"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/toolmesh/toolmesh/internal/ir"
)

// runtime is one immutable, compiled configuration. Requests load it once and keep it to the end,
// so a reload never changes the rules under an in-flight call.
type runtime struct {
	cfg        *ir.Config
	generation int64
	routes     []*route
	auth       authenticator
	sessions   sealer
	sessionTTL time.Duration
}

// route is the compiled form of one ir.Route.
type route struct {
	cfg          *ir.Route
	name         string
	backends     []*backend
	byName       map[string]*backend
	listeners    map[string]bool
	hostnames    map[string]bool
	authRequired bool
	anonymous    bool
	authz        authorizer
	origins      map[string]bool
	anyOrigin    bool
	limiter      *rateLimiter
	sem          chan struct{}
	cred         *credential
	confirm      map[string]bool
	catalog      atomic.Pointer[catalog]
}

// backend is the compiled form of one ir.Backend.
type backend struct {
	cfg     *ir.Backend
	idx     int
	url     string
	host    string
	prefix  string
	include []string
	exclude []string
}

// exposes reports whether the backend's tool name passes its include and exclude globs.
func (b *backend) exposes(name string) bool {
	for _, g := range b.exclude {
		if ok, _ := path.Match(g, name); ok {
			return false
		}
	}
	if len(b.include) == 0 {
		return true
	}
	for _, g := range b.include {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// endpointFor picks the URL a new session of this backend is pinned to.
func (b *backend) endpointFor(seed uint64) string {
	if b.cfg.SessionMode == ir.SessionStateless || len(b.cfg.Endpoints) == 0 {
		return b.url
	}
	return b.cfg.Endpoints[seed%uint64(len(b.cfg.Endpoints))]
}

func compileRoute(cfg *ir.Config, r *ir.Route, az authorizer) (*route, error) {
	rt := &route{
		cfg:          r,
		name:         r.Name,
		byName:       map[string]*backend{},
		authRequired: r.AuthenticationRequired(cfg.Authentication),
		anonymous:    cfg.Authentication.Anonymous == ir.AnonymousAllow,
		authz:        az,
		origins:      map[string]bool{},
	}
	if len(r.Listeners) > 0 {
		rt.listeners = map[string]bool{}
		for _, l := range r.Listeners {
			rt.listeners[l] = true
		}
	}
	if len(r.Hostnames) > 0 {
		rt.hostnames = map[string]bool{}
		for _, h := range r.Hostnames {
			rt.hostnames[strings.ToLower(h)] = true
		}
	}
	for _, o := range append(append([]string{}, cfg.AllowedOrigins...), r.AllowedOrigins...) {
		if o == "*" {
			rt.anyOrigin = true
		}
		rt.origins[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	for i := range r.Backends {
		b, err := compileBackend(r.Name, i, &r.Backends[i])
		if err != nil {
			return nil, err
		}
		rt.backends = append(rt.backends, b)
		rt.byName[b.cfg.Name] = b
	}
	p := &r.Policies
	if p.RateLimit != nil {
		rt.limiter = newRateLimiter(p.RateLimit)
	}
	if p.Limits.MaxConcurrentCalls > 0 {
		rt.sem = make(chan struct{}, p.Limits.MaxConcurrentCalls)
	}
	cred, err := newCredential(p.BackendAuth)
	if err != nil {
		return nil, fmt.Errorf("route %s: %w", r.Name, err)
	}
	rt.cred = cred
	if c := p.Confirmation; c != nil {
		rt.confirm = map[string]bool{}
		for _, t := range c.Tools {
			rt.confirm[t] = true
		}
	}
	return rt, nil
}

// match finds the route for a listener, host and exact path; an empty listener matches routes
// of every listener.
func (rt *runtime) match(listener, host, p string) *route {
	h := strings.ToLower(host)
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	var fallback *route
	for _, r := range rt.routes {
		if r.cfg.Path != p || (listener != "" && r.listeners != nil && !r.listeners[listener]) {
			continue
		}
		if r.hostnames == nil {
			fallback = r
			continue
		}
		if r.hostnames[h] {
			return r
		}
	}
	return fallback
}

// timeoutFor returns the timeout of a call to the exposed tool name (empty for non-tool calls).
func (r *route) timeoutFor(tool string) time.Duration {
	if d, ok := r.cfg.Policies.Timeouts.PerTool[tool]; ok && tool != "" {
		return d.Duration
	}
	return r.cfg.Policies.Timeouts.Request.Duration
}

func compileBackend(route string, i int, bc *ir.Backend) (*backend, error) {
	u, err := url.Parse(bc.URL)
	if err != nil {
		return nil, fmt.Errorf("route %s backend %s: parse url: %w", route, bc.Name, err)
	}
	b := &backend{cfg: bc, idx: i, url: bc.URL, host: bc.Host, prefix: bc.ToolPrefix,
		include: bc.Tools.Include, exclude: bc.Tools.Exclude}
	if b.host == "" {
		b.host = u.Host
	}
	return b, nil
}
