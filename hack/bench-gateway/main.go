package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolmesh/toolmesh/internal/gateway"
	"github.com/toolmesh/toolmesh/internal/ir"
)

type config struct {
	requests   int
	rounds     int
	tputRounds int
	duration   time.Duration
	concurrent int
	policies   int
	cpuProfile string
	memProfile string
}

func main() {
	var c config
	flag.IntVar(&c.requests, "requests", 250, "sequential requests per path per round at concurrency 1")
	flag.IntVar(&c.rounds, "rounds", 20, "latency rounds; the paths are interleaved round by round so noise from other work hits all of them")
	flag.IntVar(&c.tputRounds, "throughput-rounds", 8, "throughput rounds, interleaved the same way")
	flag.DurationVar(&c.duration, "duration", time.Second, "duration per path per throughput round")
	flag.IntVar(&c.concurrent, "concurrency", 16, "concurrency of the throughput runs")
	flag.IntVar(&c.policies, "policies", 100, "number of Cedar policies on the gateway route")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.StringVar(&c.memProfile, "memprofile", "", "write an allocation profile of the whole run to this file")
	flag.Parse()
	if c.memProfile != "" {
		runtime.MemProfileRate = 4096
		defer func() {
			f, err := os.Create(c.memProfile)
			if err != nil {
				log.Fatal(err)
			}
			defer func() { _ = f.Close() }()
			if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
				log.Fatal(err)
			}
		}()
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(c); err != nil {
		log.Fatal(err)
	}
}

// path is one way of reaching the backend.
type path struct {
	name    string
	url     string
	headers http.Header
	lat     []time.Duration
	count   int64
	elapsed time.Duration
	errors  atomic.Int64
}

// maxErrors is how many failed requests a path may have before the run is abandoned; failed
// requests are reported and left out of the figures.
const maxErrors = 10

func run(c config) error {
	backend := newBackend()
	defer backend.Close()
	issuer, token := newIssuer()
	defer issuer.Close()

	target, _ := url.Parse(backend.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	rp.Transport = tuned()
	proxy := httptest.NewServer(rp)
	defer proxy.Close()

	gw, err := newGateway(backend.URL, issuer.URL, c.policies)
	if err != nil {
		return err
	}
	defer gw.Close()

	client := &http.Client{Transport: tuned()}
	direct := &path{name: "direct", url: backend.URL + "/mcp"}
	plain := &path{name: "reverse-proxy", url: proxy.URL + "/mcp"}
	tm := &path{name: "toolmesh", url: gw.URL + "/mcp", headers: http.Header{"Authorization": {"Bearer " + token}}}
	paths := []*path{direct, plain, tm}
	for _, p := range paths {
		if err := initialize(client, p); err != nil {
			return fmt.Errorf("initialize %s: %w", p.name, err)
		}
	}
	for _, p := range paths { // warm up connections, caches and the tool catalog
		if _, err := sequential(client, p, 300); err != nil {
			return fmt.Errorf("warm up %s: %w", p.name, err)
		}
	}
	for range c.rounds {
		for _, p := range paths {
			lat, err := sequential(client, p, c.requests)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			p.lat = append(p.lat, lat...)
		}
	}
	for range c.tputRounds {
		for _, p := range paths {
			n, d, err := parallel(client, p, c.concurrent, c.duration)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			p.count += n
			p.elapsed += d
		}
	}
	report(paths, c)
	return nil
}

func tuned() *http.Transport {
	return &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute, DisableCompression: true}
}

type echoIn struct {
	Text string `json:"text" jsonschema:"text to echo"`
}

func newBackend() *httptest.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "bench", Version: "1.0.0"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "echo"},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
		})
	return httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
}

const audience = "https://gateway.bench/mcp"

func newIssuer() (*httptest.Server, string) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}
	s := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: priv.Public(), KeyID: "k1", Algorithm: oidc.RS256}}}
	hs := httptest.NewServer(s)
	s.SetIssuer(hs.URL)
	claims, _ := json.Marshal(map[string]any{"iss": hs.URL, "aud": audience, "sub": "bench-user",
		"groups": []string{"bench"}, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()})
	return hs, oidctest.SignIDToken(priv, "k1", oidc.RS256, string(claims))
}

func newGateway(backendURL, issuer string, policies int) (*httptest.Server, error) {
	var texts []string
	for i := range policies - 1 {
		texts = append(texts, fmt.Sprintf(`permit(principal in Group::"team-%d", action == Action::"tools/call", resource == Tool::"tool-%d");`, i, i))
	}
	texts = append(texts, `permit(principal in Group::"bench", action == Action::"tools/call", resource);`)
	cfg := &ir.Config{
		APIVersion: ir.APIVersion,
		Listeners:  []ir.Listener{{Name: "http", Address: "127.0.0.1:0"}},
		Authentication: ir.Authentication{Anonymous: ir.AnonymousDeny,
			OIDC: []ir.OIDCProvider{{Issuer: issuer, Audiences: []string{audience}}}},
		Authorization: ir.Authorization{Policies: texts},
		Routes: []ir.Route{{Name: "bench", Path: "/mcp",
			Backends: []ir.Backend{{Name: "bench", URL: backendURL + "/mcp", SessionMode: ir.SessionStateful}},
			Policies: ir.RoutePolicies{RateLimit: &ir.RateLimit{Requests: 1_000_000_000, Interval: ir.Duration{Duration: time.Second}}}}},
	}
	cfg.SetDefaults()
	s, err := gateway.New(gateway.Options{Audit: io.Discard})
	if err != nil {
		return nil, fmt.Errorf("new gateway: %w", err)
	}
	if err := s.Apply(context.Background(), cfg); err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	return httptest.NewServer(s), nil
}

func post(client *http.Client, p *path, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = p.headers.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	return client.Do(req)
}

func initialize(client *http.Client, p *path) error {
	resp, err := post(client, p, []byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`))
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("initialize: HTTP %d", resp.StatusCode)
	}
	if p.headers == nil {
		p.headers = http.Header{}
	}
	p.headers.Set("Mcp-Session-Id", resp.Header.Get("Mcp-Session-Id"))
	p.headers.Set("Mcp-Protocol-Version", "2025-11-25")
	resp, err = post(client, p, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	return nil
}

// nextID makes every request id unique within a session, as JSON-RPC requires.
var nextID atomic.Int64

func once(client *http.Client, p *path) error {
	body := fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`, nextID.Add(1))
	resp, err := post(client, p, body)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"hello"`)) {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	return nil
}

func sequential(client *http.Client, p *path, n int) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := once(client, p); err != nil {
			if p.errors.Add(1) > maxErrors {
				return nil, err
			}
			log.Printf("%s: request failed (left out): %v", p.name, err)
			continue
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}

func parallel(client *http.Client, p *path, workers int, d time.Duration) (int64, time.Duration, error) {
	var n atomic.Int64
	var firstErr error
	var mu sync.Mutex
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := once(client, p); err != nil {
					if p.errors.Add(1) > maxErrors {
						mu.Lock()
						firstErr = errors.Join(firstErr, err)
						mu.Unlock()
						return
					}
					continue
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return n.Load(), time.Since(start), firstErr
}

func pct(lat []time.Duration, q float64) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*q)]
}

func report(paths []*path, c config) {
	direct, plain, tm := paths[0], paths[1], paths[2]
	stat := func(p *path) (time.Duration, time.Duration, float64) {
		return pct(p.lat, .50), pct(p.lat, .99), float64(p.count) / p.elapsed.Seconds()
	}
	dp50, dp99, dtp := stat(direct)
	pp50, pp99, ptp := stat(plain)
	gp50, gp99, gtp := stat(tm)
	w := os.Stdout
	fmt.Fprintf(w, "bench-gateway: tools/call over streamable HTTP, %d×%d sequential calls per path (c=1), %d×%v per path at c=%d; gateway has OIDC authn, %d Cedar policies, a rate limit and audit logging on; GOMAXPROCS=%d\n",
		c.rounds, c.requests, c.tputRounds, c.duration, c.concurrent, c.policies, runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "%-14s %10s %10s %14s %8s\n", "path", "p50", "p99", "throughput/s", "errors")
	for _, r := range []struct {
		n        string
		p50, p99 time.Duration
		tp       float64
		errs     int64
	}{{"direct", dp50, dp99, dtp, direct.errors.Load()}, {"reverse-proxy", pp50, pp99, ptp, plain.errors.Load()}, {"toolmesh", gp50, gp99, gtp, tm.errors.Load()}} {
		fmt.Fprintf(w, "%-14s %10v %10v %14.0f %8d\n", r.n, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.tp, r.errs)
	}
	ratio := func(a, b time.Duration) float64 { return float64(a) / float64(b) }
	fmt.Fprintf(w, "toolmesh vs reverse-proxy: p50 %.2fx (target <= 1.15)  p99 %.2fx (target <= 1.30)  throughput %.2fx (target >= 0.85)\n",
		ratio(gp50, pp50), ratio(gp99, pp99), gtp/ptp)
	fmt.Fprintf(w, "toolmesh vs direct:        p50 %.2fx  p99 %.2fx  throughput %.2fx\n", ratio(gp50, dp50), ratio(gp99, dp99), gtp/dtp)
	fmt.Fprintf(w, "reverse-proxy vs direct:   p50 %.2fx  p99 %.2fx  throughput %.2fx\n", ratio(pp50, dp50), ratio(pp99, dp99), ptp/dtp)
}
