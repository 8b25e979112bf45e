package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/toolmesh/toolmesh/internal/ir"
)

func TestStatelessRevisionMultiBackend(t *testing.T) {
	a := newTestBackend(t, "alpha", backendOpts{stateless: true, tools: []string{"echo"}})
	b := newTestBackend(t, "beta", backendOpts{stateless: true, tools: []string{"echo"}})
	_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{mkRoute("multi", "/mcp", a.irBackend("a_", false), b.irBackend("b_", false))}}, Options{})
	cs := connect(t, gw.URL+"/mcp", "", nil, nil)
	if v := cs.InitializeResult().ProtocolVersion; v != "2026-07-28" {
		t.Fatalf("negotiated %q, want the stateless revision 2026-07-28", v)
	}
	if got := toolNames(t, cs); !slices.Equal(got, []string{"a_echo", "b_echo"}) {
		t.Fatalf("tools = %v", got)
	}
	if got, err := callText(t, cs, "b_echo", "x"); err != nil || got != "beta:echo:x" {
		t.Fatalf("call = %q, %v", got, err)
	}
}

func TestToolListChangedReachesClient(t *testing.T) {
	tests := []struct {
		name      string
		version   string
		stateless bool
	}{
		{"session stream 2025-11-25", "2025-11-25", false},
		{"subscriptions/listen 2026-07-28", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestBackend(t, "alpha", backendOpts{stateless: tt.stateless, tools: []string{"echo"}})
			b := newTestBackend(t, "beta", backendOpts{stateless: tt.stateless, tools: []string{"echo"}})
			_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{mkRoute("multi", "/mcp", a.irBackend("a_", !tt.stateless), b.irBackend("b_", !tt.stateless))}}, Options{})
			var changed atomic.Int64
			cs := connect(t, gw.URL+"/mcp", tt.version, &mcp.ClientOptions{
				ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed.Add(1) },
			}, nil)
			if got := toolNames(t, cs); len(got) != 2 {
				t.Fatalf("tools = %v", got)
			}
			// The backend announces list changes only to sessions whose listen stream is open,
			// which the client opens asynchronously: wait for it at the backend, then add tools until
			// an announcement arrives.
			eventually(t, 5*time.Second, func() bool { return b.sawListen() }, "the listen stream at the backend")
			for i := 0; !within(200*time.Millisecond, func() bool { return changed.Load() > 0 }); i++ {
				if i > 25 {
					t.Fatal("tools/list_changed never reached the client")
				}
				mcp.AddTool(b.srv, &mcp.Tool{Name: fmt.Sprintf("new%d", i)}, func(context.Context, *mcp.CallToolRequest, echoIn) (*mcp.CallToolResult, any, error) {
					return &mcp.CallToolResult{}, nil, nil
				})
			}
			eventually(t, 5*time.Second, func() bool { return slices.Contains(toolNames(t, cs), "b_new0") }, "the new tool in tools/list")
		})
	}
}

func TestMetricsAndAudit(t *testing.T) {
	iss := newTestIssuer(t)
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo"}})
	var audit bytes.Buffer
	s, gw := newTestGateway(t, &ir.Config{Authentication: iss.authentication(), Routes: []ir.Route{authRoute(be)}}, Options{Audit: &syncWriter{w: &audit}})
	tok := iss.token(t, "alice", []string{"ops"})
	cs := connect(t, gw.URL+"/mcp", "2025-11-25", nil, withBearer(tok))
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "top-secret-argument"}}); err != nil {
		t.Fatal(err)
	}
	admin := httpGetBody(t, s.AdminHandler(), "/config")
	if !strings.Contains(admin, `"generation":1`) {
		t.Fatalf("admin /config = %s", admin)
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(audit.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["method"] == "tools/call" {
			line = m
		}
	}
	want := map[string]any{"principal": iss.URL + " alice", "route": "secure", "tool": "echo", "decision": "allow", "outcome": "ok"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("audit %s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
	bad := iss.token(t, "alice", nil) + "x"
	resp, _ := rawPost(t, gw.URL+"/mcp", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, map[string]string{"Authorization": "Bearer " + bad})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(audit.String(), `"reason":"unauthenticated: invalid_signature"`) {
		t.Fatalf("rejected token: status %d, audit %s", resp.StatusCode, audit.String())
	}
	if strings.Contains(audit.String(), tok) || strings.Contains(audit.String(), bad) || strings.Contains(audit.String(), "top-secret-argument") {
		t.Fatal("the audit log contains the token or an argument value")
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func httpGetBody(t *testing.T, h http.Handler, path string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Body.String()
}

func TestMetricLabelsAreBounded(t *testing.T) {
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo"}})
	s, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{mkRoute("r", "/mcp", be.irBackend("", false))}}, Options{})
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	for i := range 50 {
		method, tool := fmt.Sprintf("made/up-%d", i), fmt.Sprintf("nope-%d", i)
		rawPost(t, gw.URL+"/mcp", fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q,"params":{%s}}`, i, method, meta),
			map[string]string{headerProtocolVersion: "2026-07-28", headerMethod: method})
		rawPost(t, gw.URL+"/mcp", fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,%s}}`, i, tool, meta),
			map[string]string{headerProtocolVersion: "2026-07-28", headerMethod: "tools/call", headerName: tool})
	}
	ch := make(chan prometheus.Metric, 1024)
	s.metrics.requests.Collect(ch)
	close(ch)
	n := 0
	for range ch {
		n++
	}
	if n == 0 || n > 5 {
		t.Fatalf("%d request series after 100 requests with made-up methods and tools, want a bounded few", n)
	}
}

// TestBackendRequestsAndProgressOnMultiBackendRoute has a backend of a multi-backend route send
// progress and ask the client a question in the middle of a call: the progress reaches the client,
// and the client's answer (whose request id the gateway rewrote) reaches the backend that asked.
func TestBackendRequestsAndProgressOnMultiBackendRoute(t *testing.T) {
	other := newTestBackend(t, "other", backendOpts{tools: []string{"echo"}})
	srv := mcp.NewServer(&mcp.Implementation{Name: "asker", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "ask"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		if tok := req.Params.GetProgressToken(); tok != nil {
			_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: 1, Total: 2})
		}
		res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: "Your name?", RequestedSchema: map[string]any{"type": "object",
			"properties": map[string]any{"name": map[string]any{"type": "string"}}}})
		if err != nil {
			return nil, nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint("hello ", res.Content["name"])}}}, nil, nil
	})
	asker := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(asker.Close)
	r := mkRoute("multi", "/mcp", other.irBackend("o_", true), ir.Backend{Name: "asker", URL: asker.URL + "/mcp", ToolPrefix: "a_"})
	_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{r}}, Options{})
	var progress atomic.Int64
	cs := connect(t, gw.URL+"/mcp", "2025-11-25", &mcp.ClientOptions{
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "ada"}}, nil
		},
		ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) { progress.Add(1) },
	}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	params := &mcp.CallToolParams{Name: "a_ask", Arguments: map[string]any{}}
	params.SetProgressToken("p1")
	res, err := cs.CallTool(ctx, params)
	if err != nil || res.IsError || res.Content[0].(*mcp.TextContent).Text != "hello ada" {
		t.Fatalf("call = %+v, %v", res, err)
	}
	eventually(t, 5*time.Second, func() bool { return progress.Load() == 1 }, "the progress notification")
}
