package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolmesh/toolmesh/internal/ir"
)

func rpcCode(err error) int64 {
	var werr *jsonrpc.Error
	if errors.As(err, &werr) {
		return werr.Code
	}
	return 0
}

func TestRateLimitPerPrincipalAndTool(t *testing.T) {
	iss := newTestIssuer(t)
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo", "other"}})
	r := mkRoute("limited", "/mcp", be.irBackend("", true))
	r.Policies.RateLimit = &ir.RateLimit{Requests: 2, Interval: ir.Duration{Duration: time.Hour},
		PerTool: map[string]ir.RateLimitRule{"other": {Requests: 1, Interval: ir.Duration{Duration: time.Hour}}}}
	_, gw := newTestGateway(t, &ir.Config{Authentication: iss.authentication(), Routes: []ir.Route{r}}, Options{})
	alice := connect(t, gw.URL+"/mcp", "2025-11-25", nil, withBearer(iss.token(t, "alice", nil)))
	bob := connect(t, gw.URL+"/mcp", "", nil, withBearer(iss.token(t, "bob", nil)))
	tests := []struct {
		name string
		cs   *mcp.ClientSession
		tool string
		want int64
	}{
		{"alice echo 1", alice, "echo", 0},
		{"alice echo 2", alice, "echo", 0},
		{"alice echo 3 limited", alice, "echo", CodeRateLimited},
		{"alice other 1", alice, "other", 0},
		{"alice other 2 limited", alice, "other", CodeRateLimited},
		{"bob has his own bucket", bob, "echo", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := callText(t, tt.cs, tt.tool, "x")
			if got := rpcCode(err); got != tt.want {
				t.Fatalf("code = %d (%v), want %d", got, err, tt.want)
			}
			if tt.want == CodeRateLimited {
				var werr *jsonrpc.Error
				errors.As(err, &werr)
				var data struct {
					RetryAfterMs int64 `json:"retryAfterMs"`
				}
				if json.Unmarshal(werr.Data, &data) != nil || data.RetryAfterMs <= 0 {
					t.Fatalf("retry hint missing: %s", werr.Data)
				}
			}
		})
	}
}

func TestRateLimitSurvivesReload(t *testing.T) {
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo"}})
	mk := func(revision string) *ir.Config {
		r := mkRoute("limited", "/mcp", be.irBackend("", true))
		r.Policies.RateLimit = &ir.RateLimit{Requests: 1, Interval: ir.Duration{Duration: time.Hour}}
		c := &ir.Config{APIVersion: ir.APIVersion, Revision: revision, Listeners: []ir.Listener{{Name: "http", Address: "127.0.0.1:0"}},
			Authentication: ir.Authentication{Anonymous: ir.AnonymousAllow}, Routes: []ir.Route{r}}
		c.SetDefaults()
		return c
	}
	s, gw := newTestGateway(t, mk("one"), Options{})
	cs := connect(t, gw.URL+"/mcp", "2025-11-25", nil, nil)
	if _, err := callText(t, cs, "echo", "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(context.Background(), mk("two")); err != nil {
		t.Fatal(err)
	}
	if _, err := callText(t, cs, "echo", "x"); rpcCode(err) != CodeRateLimited {
		t.Fatalf("after a reload with the same limit: %v, want code %d", err, CodeRateLimited)
	}
}

func TestRateLimiterBoundedMemory(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newRateLimiter(&ir.RateLimit{Requests: 1, MaxKeys: 64, IdleTimeout: ir.Duration{Duration: time.Minute}})
	l.now = func() time.Time { return now }
	for i := range 10000 {
		l.allow(fmt.Sprintf("principal-%d", i), "tool")
	}
	if n := l.size(); n > 64 {
		t.Fatalf("limiter tracks %d buckets, bound is 64", n)
	}
	now = now.Add(2 * time.Minute)
	l.allow("fresh", "tool")
	if n := l.size(); n != 1 {
		t.Fatalf("after the idle timeout %d buckets remain, want 1", n)
	}
}

func TestTimeoutCancelsBackendCall(t *testing.T) {
	for _, v := range protocolVersions {
		t.Run("version="+v, func(t *testing.T) {
			be := newTestBackend(t, "one", backendOpts{tools: []string{"slow"}, gate: make(chan struct{})})
			r := mkRoute("timeouts", "/mcp", be.irBackend("", true))
			r.Policies.Timeouts.PerTool = map[string]ir.Duration{"slow": {Duration: 100 * time.Millisecond}}
			_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{r}}, Options{})
			cs := connect(t, gw.URL+"/mcp", v, nil, nil)
			start := time.Now()
			_, err := callText(t, cs, "slow", "x")
			if rpcCode(err) != CodeTimeout {
				t.Fatalf("error = %v, want code %d", err, CodeTimeout)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("timeout took %v", d)
			}
			eventually(t, 5*time.Second, func() bool { return be.canceled.Load() == 1 }, "backend handler cancellation")
		})
	}
}

func TestMaxConcurrentCalls(t *testing.T) {
	gate := make(chan struct{})
	be := newTestBackend(t, "one", backendOpts{tools: []string{"block"}, gate: gate})
	r := mkRoute("capped", "/mcp", be.irBackend("", true))
	r.Policies.Limits.MaxConcurrentCalls = 1
	_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{r}}, Options{})
	cs := connect(t, gw.URL+"/mcp", "2025-11-25", nil, nil)
	done := make(chan error, 1)
	go func() {
		_, err := callText(t, cs, "block", "first")
		done <- err
	}()
	eventually(t, 5*time.Second, func() bool { return be.calls.Load() == 1 }, "first call at the backend")
	if _, err := callText(t, cs, "block", "second"); rpcCode(err) != CodeTooManyCalls {
		t.Fatalf("second call error = %v, want code %d", err, CodeTooManyCalls)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatalf("first call: %v", err)
	}
	if _, err := callText(t, cs, "block", "third"); err != nil {
		t.Fatalf("call after the first finished: %v", err)
	}
}

func TestBackendAuth(t *testing.T) {
	iss := newTestIssuer(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	saToken := filepath.Join(dir, "token")
	if err := os.WriteFile(secret, []byte("s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(saToken, []byte("sa-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	clientToken := iss.token(t, "alice", nil)
	tests := []struct {
		name        string
		auth        ir.BackendAuth
		header      string
		want        string
		tokenLeaked bool
	}{
		{"none never forwards the caller's token", ir.BackendAuth{Type: ir.BackendAuthNone}, "Authorization", "", false},
		{"secret header from a file", ir.BackendAuth{Type: ir.BackendAuthSecretHeader, Header: "X-Api-Key", File: secret}, "X-Api-Key", "s3cr3t", false},
		{"service account token", ir.BackendAuth{Type: ir.BackendAuthServiceAccountToken, File: saToken}, "Authorization", "Bearer sa-token", false},
		{"passthrough", ir.BackendAuth{Type: ir.BackendAuthPassthrough}, "Authorization", "Bearer " + clientToken, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := newTestBackend(t, "one", backendOpts{tools: []string{"echo"}})
			r := mkRoute("auth", "/mcp", be.irBackend("", true))
			r.Policies.BackendAuth = tt.auth
			_, gw := newTestGateway(t, &ir.Config{Authentication: iss.authentication(), Routes: []ir.Route{r}}, Options{})
			cs := connect(t, gw.URL+"/mcp", "2025-11-25", nil, withBearer(clientToken))
			if _, err := callText(t, cs, "echo", "x"); err != nil {
				t.Fatal(err)
			}
			for _, h := range be.headers() {
				if got := h.Get(tt.header); got != tt.want {
					t.Fatalf("backend saw %s = %q, want %q", tt.header, got, tt.want)
				}
				for _, v := range h {
					for _, s := range v {
						if !tt.tokenLeaked && s == "Bearer "+clientToken {
							t.Fatal("the caller's token reached the backend")
						}
					}
				}
			}
		})
	}
}

func TestDestructiveConfirmation(t *testing.T) {
	accept := func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, nil
	}
	decline := func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		return &mcp.ElicitResult{Action: "decline"}, nil
	}
	tests := []struct {
		name    string
		version string
		handler func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error)
		tool    string
		want    int64
	}{
		{"accepted", "2025-11-25", accept, "wipe", 0},
		{"accepted 2025-06-18", "2025-06-18", accept, "wipe", 0},
		{"declined", "2025-11-25", decline, "wipe", CodeConfirmationDenied},
		{"client cannot elicit", "2025-11-25", nil, "wipe", CodeConfirmationDenied},
		{"listed by name", "2025-11-25", decline, "listed", CodeConfirmationDenied},
		{"not destructive", "2025-11-25", nil, "echo", 0},
		{"accepted 2026-07-28", "", accept, "wipe", 0},
		{"declined 2026-07-28", "", decline, "wipe", CodeConfirmationDenied},
		{"client cannot elicit 2026-07-28", "", nil, "wipe", CodeConfirmationDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stateless := tt.version == ""
			be := newTestBackend(t, "one", backendOpts{stateless: stateless, tools: []string{"echo", "wipe", "listed"}, destructive: []string{"wipe"}})
			r := mkRoute("confirm", "/mcp", be.irBackend("", !stateless))
			r.Policies.Confirmation = &ir.Confirmation{Destructive: true, Tools: []string{"listed"}}
			_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{r}}, Options{})
			var opts *mcp.ClientOptions
			if tt.handler != nil {
				opts = &mcp.ClientOptions{ElicitationHandler: tt.handler}
			}
			cs := connect(t, gw.URL+"/mcp", tt.version, opts, nil)
			if v := cs.InitializeResult().ProtocolVersion; stateless && v != "2026-07-28" {
				t.Fatalf("negotiated %q, want 2026-07-28", v)
			}
			_, err := callText(t, cs, tt.tool, "x")
			if got := rpcCode(err); got != tt.want {
				t.Fatalf("code = %d (%v), want %d", got, err, tt.want)
			}
			if wantCalls := int64(map[bool]int{true: 1}[tt.want == 0]); be.calls.Load() != wantCalls {
				t.Fatalf("backend calls = %d, want %d", be.calls.Load(), wantCalls)
			}
		})
	}
}

func TestStatelessConfirmationStateIsBound(t *testing.T) {
	be := newTestBackend(t, "one", backendOpts{stateless: true, tools: []string{"wipe"}, destructive: []string{"wipe"}})
	r := mkRoute("confirm", "/mcp", be.irBackend("", false))
	r.Policies.Confirmation = &ir.Confirmation{Destructive: true}
	_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{r}}, Options{})
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}`
	hdr := map[string]string{headerProtocolVersion: "2026-07-28", headerMethod: "tools/call", headerName: "wipe"}
	call := func(args, extra string) string {
		_, body := rawPost(t, gw.URL+"/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"wipe","arguments":`+args+`,`+meta+extra+`}}`, hdr)
		return body
	}
	first := call(`{"text":"a"}`, "")
	var res struct {
		Result struct {
			ResultType   string `json:"resultType"`
			RequestState string `json:"requestState"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(rpcPayload(first)), &res); err != nil || res.Result.ResultType != "input_required" {
		t.Fatalf("first call = %s", first)
	}
	accept := `,"inputResponses":{"toolmesh.io/confirm":{"action":"accept","content":{"confirm":true}}},"requestState":`
	tests := []struct {
		name, args, state string
		wantCalled        bool
	}{
		{"other arguments", `{"text":"b"}`, res.Result.RequestState, false},
		{"forged state", `{"text":"a"}`, "forged", false},
		{"the confirmed call", `{"text":"a"}`, res.Result.RequestState, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := be.calls.Load()
			body := call(tt.args, accept+`"`+tt.state+`"`)
			if called := be.calls.Load() > before; called != tt.wantCalled {
				t.Fatalf("backend called = %v, want %v (%s)", called, tt.wantCalled, body)
			}
			if !tt.wantCalled && !strings.Contains(body, fmt.Sprint(CodeConfirmationDenied)) {
				t.Fatalf("body = %s, want code %d", body, CodeConfirmationDenied)
			}
		})
	}
}

// rpcPayload returns the JSON-RPC message of a response body, with any event-stream framing removed.
func rpcPayload(body string) string {
	if _, data, ok := strings.Cut(body, "data: "); ok {
		return strings.TrimSpace(data)
	}
	return strings.TrimSpace(body)
}

// TestConfirmedCallWithBackendRoundTrip confirms a destructive call on the stateless revision
// whose backend then asks its own question: the client answers it once, and is not asked to
// confirm again.
func TestConfirmedCallWithBackendRoundTrip(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "asker", Version: "1"}, nil)
	yes := true
	mcp.AddTool(srv, &mcp.Tool{Name: "wipe", Annotations: &mcp.ToolAnnotations{DestructiveHint: &yes}},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			if len(req.Params.InputResponses) == 0 {
				return &mcp.CallToolResult{RequestState: "backend-state", InputRequests: mcp.InputRequestMap{
					"which": &mcp.ElicitParams{Message: "Which disk?", RequestedSchema: map[string]any{"type": "object",
						"properties": map[string]any{"disk": map[string]any{"type": "string"}}}},
				}}, nil, nil
			}
			if req.Params.RequestState != "backend-state" {
				return nil, nil, fmt.Errorf("lost the backend state: %q", req.Params.RequestState)
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "wiped"}}}, nil, nil
		})
	be := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true}))
	t.Cleanup(be.Close)
	r := mkRoute("confirm", "/mcp", ir.Backend{Name: "asker", URL: be.URL + "/mcp", SessionMode: ir.SessionStateless})
	r.Policies.Confirmation = &ir.Confirmation{Destructive: true}
	_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{r}}, Options{})
	var asked []string
	var mu sync.Mutex
	cs := connect(t, gw.URL+"/mcp", "", &mcp.ClientOptions{ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		mu.Lock()
		asked = append(asked, req.Params.Message)
		mu.Unlock()
		return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true, "disk": "sdb"}}, nil
	}}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "wipe", Arguments: map[string]any{}})
	if err != nil || res.IsError || res.Content[0].(*mcp.TextContent).Text != "wiped" {
		t.Fatalf("call = %+v, %v", res, err)
	}
	if len(asked) != 2 || !strings.Contains(asked[0], "destructive") || asked[1] != "Which disk?" {
		t.Fatalf("the user was asked %q, want the confirmation then the backend's question, once each", asked)
	}
}

func TestBackendCredentialRotation(t *testing.T) {
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo"}})
	r := mkRoute("rotating", "/mcp", be.irBackend("", true))
	r.Policies.BackendAuth = ir.BackendAuth{Type: ir.BackendAuthServiceAccountToken, File: token}
	_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{r}}, Options{})
	cs := connect(t, gw.URL+"/mcp", "2025-11-25", nil, nil)
	last := func() string {
		h := be.headers()
		return h[len(h)-1].Get("Authorization")
	}
	if _, err := callText(t, cs, "echo", "x"); err != nil || last() != "Bearer first" {
		t.Fatalf("first token: %v, backend saw %q", err, last())
	}
	if err := os.WriteFile(token+".new", []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(token+".new", token); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() bool {
		_, err := callText(t, cs, "echo", "x")
		return err == nil && last() == "Bearer second"
	}, "the rotated token at the backend")
}
