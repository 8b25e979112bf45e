package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/toolmesh/toolmesh/internal/ir"
)

// Options configure a Server.
type Options struct {
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
	// Audit receives one JSON line per call; nil discards them.
	Audit io.Writer
	// Registerer receives the gateway's metrics; nil uses a private registry.
	Registerer prometheus.Registerer
	// Transport is used to reach backends; nil uses a tuned default.
	Transport http.RoundTripper
	// SessionKey overrides the configuration's session key file (tests, single binaries).
	SessionKey []byte
	// Name is reported as serverInfo.name of multi-backend routes (default toolmesh-gateway).
	Name string
	// Version is reported as serverInfo.version of multi-backend routes.
	Version string
	// TracerProvider, when set, receives one server span per request; the trace context is
	// propagated to backends. Nil disables tracing.
	TracerProvider trace.TracerProvider
}

// Server is the gateway data plane. It serves the routes of its current configuration and swaps
// configurations atomically: each request runs to its end on the configuration it started with.
type Server struct {
	opts    Options
	log     *slog.Logger
	audit   *slog.Logger
	client  *http.Client
	metrics *metrics
	current atomic.Pointer[runtime]

	applyMu    sync.Mutex
	generation int64
	randomKey  []byte
	lastError  atomic.Pointer[string]
	pending    pendingRequests
	fileHash   atomic.Pointer[[32]byte]
	legacy     legacySessions
	tracer     trace.Tracer
}

// New returns a Server with no configuration; call Apply before serving.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Name == "" {
		opts.Name = "toolmesh-gateway"
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	tr := opts.Transport
	if tr == nil {
		tr = defaultTransport()
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate session key: %w", err)
	}
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		client:    &http.Client{Transport: newSSETransport(tr)},
		metrics:   m,
		randomKey: key,
	}
	if opts.TracerProvider != nil {
		s.tracer = opts.TracerProvider.Tracer("github.com/toolmesh/toolmesh/internal/gateway")
	}
	if opts.Audit != nil {
		s.audit = slog.New(slog.NewJSONHandler(opts.Audit, nil))
	}
	s.pending.init()
	return s, nil
}

func defaultTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
}

// Apply compiles cfg and makes it current. When cfg is invalid or cannot be compiled the Server
// keeps serving its last good configuration and Apply returns the reason.
func (s *Server) Apply(ctx context.Context, cfg *ir.Config) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	rt, err := s.compile(ctx, cfg)
	if err != nil {
		msg := err.Error()
		s.lastError.Store(&msg)
		s.metrics.reloads.WithLabelValues("failure").Inc()
		return err
	}
	s.generation++
	rt.generation = s.generation
	if old := s.current.Load(); old != nil {
		inherit(old, rt)
	}
	s.current.Store(rt)
	s.lastError.Store(nil)
	s.metrics.reloads.WithLabelValues("success").Inc()
	s.metrics.generation.Set(float64(rt.generation))
	s.log.Info("Applied gateway configuration", "generation", rt.generation, "revision", cfg.Revision, "routes", len(rt.routes))
	return nil
}

// Generation returns the number of configurations applied so far.
func (s *Server) Generation() int64 {
	if rt := s.current.Load(); rt != nil {
		return rt.generation
	}
	return 0
}

// LastError returns why the last Apply failed, or "" when it succeeded.
func (s *Server) LastError() string {
	if p := s.lastError.Load(); p != nil {
		return *p
	}
	return ""
}

func (s *Server) compile(ctx context.Context, cfg *ir.Config) (*runtime, error) {
	if cfg == nil {
		return nil, errors.New("compile config: nil config")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	rt := &runtime{cfg: cfg, sessionTTL: cfg.Session.TTL.Duration}
	var prevAuth authenticator
	if old := s.current.Load(); old != nil && sameAuthentication(old.cfg.Authentication, cfg.Authentication) {
		prevAuth = old.auth
	}
	auth, err := s.buildAuthenticator(ctx, cfg.Authentication, prevAuth)
	if err != nil {
		return nil, err
	}
	rt.auth = auth
	keys, err := s.sessionKeys(cfg.Session)
	if err != nil {
		return nil, err
	}
	if rt.sessions, err = newSealer(keys); err != nil {
		return nil, err
	}
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		az, err := buildAuthorizer(cfg.Authorization, r.Authorization)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", r.Name, err)
		}
		cr, err := compileRoute(cfg, r, az)
		if err != nil {
			return nil, err
		}
		rt.routes = append(rt.routes, cr)
	}
	return rt, nil
}

// inherit carries state that must survive a reload from the routes of the old runtime to the
// routes of the same name in the new one, before the new one is published: the discovered
// catalog when the backends did not change, and the rate-limit buckets and the concurrency
// semaphore when their limits did not change (so a reload neither resets limits nor lets calls
// exceed a cap).
func inherit(old, cur *runtime) {
	for _, r := range cur.routes {
		for _, o := range old.routes {
			if o.name != r.name {
				continue
			}
			if c := o.catalog.Load(); c != nil && sameBackends(o.cfg.Backends, r.cfg.Backends) {
				r.catalog.Store(c)
			}
			if o.limiter != nil && r.limiter != nil && reflect.DeepEqual(o.cfg.Policies.RateLimit, r.cfg.Policies.RateLimit) {
				r.limiter = o.limiter
			}
			if o.sem != nil && r.sem != nil && cap(o.sem) == cap(r.sem) {
				r.sem = o.sem
			}
		}
	}
}

// ServeHTTP serves requests arriving on any listener.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, "")
}

// Handler returns the handler for the named listener: only routes bound to it (or to all) are served.
func (s *Server) Handler(listener string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, listener) })
}
