package gateway

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolmesh/toolmesh/internal/ir"
)

// echoIn is the input of the test tools.
type echoIn struct {
	Text string `json:"text" jsonschema:"text to echo"`
}

// testBackend is a go-sdk MCP server on an httptest listener.
type testBackend struct {
	*httptest.Server
	name     string
	calls    atomic.Int64
	canceled atomic.Int64
	srv      *mcp.Server

	mu   sync.Mutex
	seen []http.Header
}

// headers returns the headers of every request the backend received.
func (tb *testBackend) headers() []http.Header {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return slices.Clone(tb.seen)
}

type backendOpts struct {
	stateless   bool
	tools       []string
	destructive []string
	slow        time.Duration
	gate        chan struct{}
}

func newTestBackend(t *testing.T, name string, o backendOpts) *testBackend {
	t.Helper()
	tb := &testBackend{name: name}
	srv := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1.0.0"}, nil)
	for _, tool := range o.tools {
		destructive := false
		for _, d := range o.destructive {
			destructive = destructive || d == tool
		}
		mcp.AddTool(srv, &mcp.Tool{Name: tool, Description: "echo from " + name,
			Annotations: &mcp.ToolAnnotations{DestructiveHint: &destructive}},
			func(ctx context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
				tb.calls.Add(1)
				var wait <-chan time.Time
				if o.slow > 0 {
					wait = time.After(o.slow)
				}
				if o.gate != nil || wait != nil {
					select {
					case <-wait:
					case <-o.gate:
					case <-ctx.Done():
						tb.canceled.Add(1)
						return nil, nil, ctx.Err()
					}
				}
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + ":" + tool + ":" + in.Text}}}, nil, nil
			})
	}
	srv.AddPrompt(&mcp.Prompt{Name: "greet"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hello from " + name}}}}, nil
	})
	srv.AddResource(&mcp.Resource{URI: "test://" + name + "/readme", Name: "readme", MIMEType: "text/plain"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "readme of " + name}}}, nil
		})
	tb.srv = srv
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: o.stateless})
	tb.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tb.mu.Lock()
		seen := r.Header.Clone()
		seen.Set("X-Test-Method", r.Method)
		tb.seen = append(tb.seen, seen)
		tb.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(tb.Close)
	return tb
}

func (tb *testBackend) irBackend(prefix string, stateful bool) ir.Backend {
	mode := ir.SessionStateless
	if stateful {
		mode = ir.SessionStateful
	}
	return ir.Backend{Name: tb.name, URL: tb.URL + "/mcp", ToolPrefix: prefix, SessionMode: mode}
}

// newTestGateway starts a gateway serving cfg on an httptest listener.
func newTestGateway(t *testing.T, cfg *ir.Config, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	if cfg.APIVersion == "" {
		cfg.APIVersion = ir.APIVersion
	}
	if len(cfg.Listeners) == 0 {
		cfg.Listeners = []ir.Listener{{Name: "http", Address: "127.0.0.1:0"}}
	}
	if len(cfg.Authentication.OIDC) == 0 && cfg.Authentication.Anonymous == "" {
		cfg.Authentication.Anonymous = ir.AnonymousAllow
	}
	cfg.SetDefaults()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Apply(context.Background(), cfg); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, hs
}

func mkRoute(name, path string, backends ...ir.Backend) ir.Route {
	return ir.Route{Name: name, Path: path, Backends: backends}
}

// connect opens a go-sdk client session to url with the given protocol version ("" = SDK default).
func connect(t *testing.T, url, version string, copts *mcp.ClientOptions, hc *http.Client) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1.0.0"}, copts)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc, MaxRetries: -1}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("Connect(%s, %q): %v", url, version, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func callText(t *testing.T, cs *mcp.ClientSession, tool, text string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"text": text}})
	if err != nil {
		return "", err
	}
	if res.IsError {
		return "", fmt.Errorf("tool error: %v", res.Content)
	}
	return res.Content[0].(*mcp.TextContent).Text, nil
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	return names
}

// rawPost sends one raw HTTP request to the gateway.
func rawPost(t *testing.T, url string, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp, buf.String()
}

// sawListen reports whether the backend received a standalone GET stream or a subscriptions/listen request.
func (tb *testBackend) sawListen() bool {
	for _, h := range tb.headers() {
		if h.Get("X-Test-Method") == http.MethodGet || h.Get("Mcp-Method") == "subscriptions/listen" {
			return true
		}
	}
	return false
}

// within polls cond until it holds (true) or d passes (false).
func within(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
	return true
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	if !within(d, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}
