package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolmesh/toolmesh/internal/ir"
)

var protocolVersions = []string{"2025-06-18", "2025-11-25", ""}

func TestSingleBackendRoute(t *testing.T) {
	for _, stateless := range []bool{false, true} {
		for _, v := range protocolVersions {
			t.Run(fmt.Sprintf("stateless=%v/version=%q", stateless, v), func(t *testing.T) {
				be := newTestBackend(t, "one", backendOpts{stateless: stateless, tools: []string{"echo", "other"}})
				_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{mkRoute("one", "/mcp/one", be.irBackend("", !stateless))}}, Options{})
				cs := connect(t, gw.URL+"/mcp/one", v, nil, nil)
				if got := toolNames(t, cs); !slices.Equal(got, []string{"echo", "other"}) {
					t.Fatalf("tools = %v", got)
				}
				got, err := callText(t, cs, "echo", "hi")
				if err != nil || got != "one:echo:hi" {
					t.Fatalf("call = %q, %v", got, err)
				}
				if _, err := callText(t, cs, "missing", "x"); err == nil {
					t.Fatal("calling an unknown tool succeeded")
				}
			})
		}
	}
}

func TestMultiBackendRoute(t *testing.T) {
	for _, v := range protocolVersions {
		t.Run("version="+v, func(t *testing.T) {
			a := newTestBackend(t, "alpha", backendOpts{tools: []string{"echo", "shared", "debug_dump"}})
			b := newTestBackend(t, "beta", backendOpts{tools: []string{"echo", "shared"}})
			c := newTestBackend(t, "gamma", backendOpts{tools: []string{"shared"}})
			ba := a.irBackend("a_", true)
			ba.Tools.Exclude = []string{"debug_*"}
			bb := b.irBackend("b_", true)
			bc := c.irBackend("b_", true) // collides with beta's b_shared
			s, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{mkRoute("multi", "/mcp/multi", ba, bb, bc)}}, Options{})
			cs := connect(t, gw.URL+"/mcp/multi", v, nil, nil)
			want := []string{"a_echo", "a_shared", "b_echo", "b_shared"}
			if got := toolNames(t, cs); !slices.Equal(got, want) {
				t.Fatalf("tools = %v, want %v", got, want)
			}
			for tool, want := range map[string]string{"a_echo": "alpha:echo:x", "b_echo": "beta:echo:x", "b_shared": "beta:shared:x"} {
				if got, err := callText(t, cs, tool, "x"); err != nil || got != want {
					t.Errorf("call %s = %q, %v; want %q", tool, got, err, want)
				}
			}
			if _, err := callText(t, cs, "a_debug_dump", "x"); err == nil {
				t.Error("excluded tool is callable")
			}
			conflicts := s.Conflicts()
			if len(conflicts) != 1 || conflicts[0].Name != "b_shared" || conflicts[0].HiddenBackend != "gamma" {
				t.Errorf("conflicts = %+v", conflicts)
			}
			if body := httpGetBody(t, s.AdminHandler(), "/conflicts"); !strings.Contains(body, `"name":"b_shared","backend":"beta","hiddenBackend":"gamma"`) {
				t.Errorf("admin /conflicts = %s", body)
			}
			if c.calls.Load() != 0 {
				t.Error("hidden backend tool was called")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			prompt, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "b_greet"})
			if err != nil || prompt.Messages[0].Content.(*mcp.TextContent).Text != "hello from beta" {
				t.Errorf("prompt b_greet = %v, %v", prompt, err)
			}
			res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "test://gamma/readme"})
			if err != nil || res.Contents[0].Text != "readme of gamma" {
				t.Errorf("resource of gamma = %v, %v", res, err)
			}
		})
	}
}

func TestBackendDownIsolation(t *testing.T) {
	for _, v := range protocolVersions {
		t.Run("version="+v, func(t *testing.T) {
			a := newTestBackend(t, "alpha", backendOpts{tools: []string{"echo"}})
			b := newTestBackend(t, "beta", backendOpts{tools: []string{"echo"}})
			_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{mkRoute("multi", "/mcp/multi", a.irBackend("a_", true), b.irBackend("b_", true))}}, Options{})
			cs := connect(t, gw.URL+"/mcp/multi", v, nil, nil)
			if got := toolNames(t, cs); len(got) != 2 {
				t.Fatalf("tools = %v", got)
			}
			b.CloseClientConnections()
			b.Close()
			if got, err := callText(t, cs, "a_echo", "still"); err != nil || got != "alpha:echo:still" {
				t.Fatalf("healthy backend call = %q, %v", got, err)
			}
			_, err := callText(t, cs, "b_echo", "x")
			if err == nil || !strings.Contains(err.Error(), "unavailable") {
				t.Fatalf("down backend call error = %v, want unavailable", err)
			}
			if got := toolNames(t, cs); !slices.Equal(got, []string{"a_echo"}) {
				t.Fatalf("tools with a backend down = %v", got)
			}
		})
	}
}

func TestLegacySSEClient(t *testing.T) {
	a := newTestBackend(t, "alpha", backendOpts{tools: []string{"echo"}})
	b := newTestBackend(t, "beta", backendOpts{tools: []string{"echo"}})
	_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{mkRoute("multi", "/mcp", a.irBackend("a_", true), b.irBackend("b_", true))}}, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "old-client", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.SSEClientTransport{Endpoint: gw.URL + "/mcp/sse"}, nil)
	if err != nil {
		t.Fatalf("connect over HTTP+SSE: %v", err)
	}
	defer func() { _ = cs.Close() }()
	if got := toolNames(t, cs); !slices.Equal(got, []string{"a_echo", "b_echo"}) {
		t.Fatalf("tools = %v", got)
	}
	for _, tool := range []string{"a_echo", "b_echo"} {
		if got, err := callText(t, cs, tool, "old"); err != nil || !strings.HasSuffix(got, ":echo:old") {
			t.Fatalf("call %s = %q, %v", tool, got, err)
		}
	}
}

func TestMergedListPagination(t *testing.T) {
	defer func(n int) { listPageSize = n }(listPageSize)
	listPageSize = 2
	a := newTestBackend(t, "alpha", backendOpts{tools: []string{"one", "two", "three"}})
	b := newTestBackend(t, "beta", backendOpts{tools: []string{"four", "five"}})
	_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{mkRoute("multi", "/mcp", a.irBackend("a_", true), b.irBackend("b_", true))}}, Options{})
	for _, v := range protocolVersions {
		t.Run("version="+v, func(t *testing.T) {
			cs := connect(t, gw.URL+"/mcp", v, nil, nil)
			var names []string
			pages := 0
			cursor := ""
			for {
				res, err := cs.ListTools(context.Background(), &mcp.ListToolsParams{Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, tl := range res.Tools {
					names = append(names, tl.Name)
				}
				if cursor = res.NextCursor; cursor == "" {
					break
				}
			}
			slices.Sort(names)
			if want := []string{"a_one", "a_three", "a_two", "b_five", "b_four"}; !slices.Equal(names, want) || pages != 3 {
				t.Fatalf("%d pages of %v, want 3 pages of %v", pages, names, want)
			}
		})
	}
}

func TestSSEBackend(t *testing.T) {
	old := mcp.NewServer(&mcp.Implementation{Name: "old", Version: "1"}, nil)
	mcp.AddTool(old, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "old:echo:" + in.Text}}}, nil, nil
	})
	oldSrv := httptest.NewServer(mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return old }, nil))
	t.Cleanup(oldSrv.Close)
	modern := newTestBackend(t, "modern", backendOpts{stateless: true, tools: []string{"echo"}})
	sse := ir.Backend{Name: "old", URL: oldSrv.URL, Transport: ir.TransportSSE, ToolPrefix: "old_"}
	_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{mkRoute("mixed", "/mcp", sse, modern.irBackend("new_", false))}}, Options{})
	for _, v := range protocolVersions {
		t.Run("version="+v, func(t *testing.T) {
			cs := connect(t, gw.URL+"/mcp", v, nil, nil)
			if got := toolNames(t, cs); !slices.Equal(got, []string{"old_echo", "new_echo"}) {
				t.Fatalf("tools = %v", got)
			}
			for tool, want := range map[string]string{"old_echo": "old:echo:x", "new_echo": "modern:echo:x"} {
				if got, err := callText(t, cs, tool, "x"); err != nil || got != want {
					t.Fatalf("call %s = %q, %v", tool, got, err)
				}
			}
		})
	}
}

func TestLargeMessages(t *testing.T) {
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo"}})
	_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{mkRoute("big", "/mcp", be.irBackend("", true))}}, Options{})
	cs := connect(t, gw.URL+"/mcp", "2025-11-25", nil, nil)
	big := strings.Repeat("0123456789", 30000)
	if got, err := callText(t, cs, "echo", big); err != nil || got != "one:echo:"+big {
		t.Fatalf("300 kB round trip: %d bytes, %v", len(got), err)
	}
}

func TestCompletionRouting(t *testing.T) {
	mk := func(name string) *httptest.Server {
		srv := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, &mcp.ServerOptions{
			CompletionHandler: func(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
				return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{name + ":" + req.Params.Ref.Name}}}, nil
			},
		})
		srv.AddPrompt(&mcp.Prompt{Name: "greet", Arguments: []*mcp.PromptArgument{{Name: "who"}}}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{}, nil
		})
		hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
		t.Cleanup(hs.Close)
		return hs
	}
	a, b := mk("alpha"), mk("beta")
	r := mkRoute("multi", "/mcp", ir.Backend{Name: "alpha", URL: a.URL, ToolPrefix: "a_"}, ir.Backend{Name: "beta", URL: b.URL, ToolPrefix: "b_"})
	_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{r}}, Options{})
	cs := connect(t, gw.URL+"/mcp", "2025-11-25", nil, nil)
	res, err := cs.Complete(context.Background(), &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "b_greet"},
		Argument: mcp.CompleteParamsArgument{Name: "who", Value: "x"}})
	if err != nil || len(res.Completion.Values) != 1 || res.Completion.Values[0] != "beta:greet" {
		t.Fatalf("completion = %+v, %v", res, err)
	}
}

// TestStatefulSessionsArePinned runs one stateful backend as two "pods" that do not share
// sessions, behind a round-robin "Service": every call of a session must reach the pod that
// initialized it, which only pinning to an endpoint achieves.
func TestStatefulSessionsArePinned(t *testing.T) {
	pod1 := newTestBackend(t, "pod", backendOpts{tools: []string{"echo"}})
	pod2 := newTestBackend(t, "pod", backendOpts{tools: []string{"echo"}})
	var n atomic.Int64
	u1, _ := url.Parse(pod1.URL)
	u2, _ := url.Parse(pod2.URL)
	proxies := []*httputil.ReverseProxy{httputil.NewSingleHostReverseProxy(u1), httputil.NewSingleHostReverseProxy(u2)}
	service := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxies[n.Add(1)%2].ServeHTTP(w, r)
	}))
	t.Cleanup(service.Close)
	t.Run("the service alone breaks sessions", func(t *testing.T) {
		_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{mkRoute("svc", "/mcp", ir.Backend{Name: "svc", URL: service.URL + "/mcp"})}}, Options{})
		failed := false
		for range 12 {
			cs := connect(t, gw.URL+"/mcp", "2025-11-25", nil, nil)
			if _, err := callText(t, cs, "echo", "x"); err != nil {
				failed = true
			}
		}
		if !failed {
			t.Fatal("the round-robin service did not break any session; the test proves nothing")
		}
	})
	before := pod1.calls.Load() + pod2.calls.Load()
	b := ir.Backend{Name: "svc", URL: service.URL + "/mcp", SessionMode: ir.SessionStateful,
		Endpoints: []string{pod1.URL + "/mcp", pod2.URL + "/mcp"}}
	_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{mkRoute("pinned", "/mcp", b)}}, Options{})
	for i := range 12 {
		cs := connect(t, gw.URL+"/mcp", "2025-11-25", nil, nil)
		for j := range 3 {
			if _, err := callText(t, cs, "echo", "x"); err != nil {
				t.Fatalf("session %d call %d: %v", i, j, err)
			}
		}
	}
	if got := pod1.calls.Load() + pod2.calls.Load() - before; got != 36 {
		t.Fatalf("pods served %d calls, want 36", got)
	}
}

func TestSlowBackendDoesNotHoldUpTheRoute(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(release) })
	a := newTestBackend(t, "alpha", backendOpts{tools: []string{"echo"}})
	r := mkRoute("multi", "/mcp", a.irBackend("a_", true), ir.Backend{Name: "hung", URL: hung.URL + "/mcp", ToolPrefix: "h_"})
	r.Policies.Timeouts.Fanout = ir.Duration{Duration: 200 * time.Millisecond}
	_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{r}}, Options{})
	start := time.Now()
	cs := connect(t, gw.URL+"/mcp", "2025-11-25", nil, nil)
	if got := toolNames(t, cs); !slices.Equal(got, []string{"a_echo"}) {
		t.Fatalf("tools = %v", got)
	}
	if got, err := callText(t, cs, "a_echo", "x"); err != nil || got != "alpha:echo:x" {
		t.Fatalf("call = %q, %v", got, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a hung backend held the route up for %v", d)
	}
}

// TestResumableStream has the backend close the call's event stream before answering (as the
// 2025-11-25 revision allows); the client resumes through the gateway with Last-Event-ID.
func TestResumableStream(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "resumable", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "slow"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		req.Extra.CloseSSEStream(mcp.CloseSSEStreamArgs{RetryAfter: 10 * time.Millisecond})
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "after the break"}}}, nil, nil
	})
	be := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{EventStore: mcp.NewMemoryEventStore(nil)}))
	t.Cleanup(be.Close)
	_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{mkRoute("r", "/mcp", ir.Backend{Name: "b", URL: be.URL + "/mcp"})}}, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: gw.URL + "/mcp", MaxRetries: 3}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cs.Close() }()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow"})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "after the break" {
		t.Fatalf("call = %+v, %v", res, err)
	}
}

func TestListenersAndHostnames(t *testing.T) {
	a := newTestBackend(t, "alpha", backendOpts{tools: []string{"echo"}})
	b := newTestBackend(t, "beta", backendOpts{tools: []string{"echo"}})
	internal := mkRoute("internal", "/mcp", a.irBackend("", true))
	internal.Listeners = []string{"internal"}
	public := mkRoute("public", "/mcp", b.irBackend("", true))
	public.Listeners = []string{"public"}
	public.Hostnames = []string{"127.0.0.1"}
	cfg := &ir.Config{Listeners: []ir.Listener{{Name: "internal", Address: "127.0.0.1:0"}, {Name: "public", Address: "127.0.0.1:0"}},
		Routes: []ir.Route{internal, public}}
	s, _ := newTestGateway(t, cfg, Options{})
	in := httptest.NewServer(s.Handler("internal"))
	t.Cleanup(in.Close)
	pub := httptest.NewServer(s.Handler("public"))
	t.Cleanup(pub.Close)
	for _, tt := range []struct{ url, want string }{{in.URL, "alpha:echo:x"}, {pub.URL, "beta:echo:x"}} {
		cs := connect(t, tt.url+"/mcp", "2025-11-25", nil, nil)
		if got, err := callText(t, cs, "echo", "x"); err != nil || got != tt.want {
			t.Fatalf("%s: call = %q, %v; want %q", tt.url, got, err, tt.want)
		}
	}
	localhost := strings.Replace(pub.URL, "127.0.0.1", "localhost", 1)
	if resp, _ := rawPost(t, localhost+"/mcp", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a Host outside the route's hostnames: status %d, want 404", resp.StatusCode)
	}
}
