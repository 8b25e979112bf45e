package bridge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestMain doubles as the stdio MCP server the bridge runs: with BRIDGE_TEST_CHILD=1 the test
// binary serves MCP on its stdin and stdout, a real go-sdk server like any packaged stdio server.
func TestMain(m *testing.M) {
	if os.Getenv("BRIDGE_TEST_CHILD") == "1" {
		serveStdioChild()
		return
	}
	os.Exit(m.Run())
}

type echoIn struct {
	Text string `json:"text" jsonschema:"what to echo"`
}

type pidOut struct {
	PID int `json:"pid"`
}

func serveStdioChild() {
	server := mcp.NewServer(&mcp.Implementation{Name: "child", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "Echoes its input."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "pid", Description: "Returns the server's process id."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, pidOut, error) {
			return nil, pidOut{PID: os.Getpid()}, nil
		})
	_ = server.Run(context.Background(), &mcp.StdioTransport{})
}

// newBridge serves a Bridge running this test binary as its stdio server.
func newBridge(t *testing.T, opts Options) (*Bridge, *httptest.Server) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	opts.Command = []string{exe}
	opts.Env = append(os.Environ(), "BRIDGE_TEST_CHILD=1")
	opts.Stderr = os.Stderr
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(b)
	t.Cleanup(func() {
		ts.Close()
		b.Close()
	})
	return b, ts
}

func connect(t *testing.T, url string) *mcp.ClientSession {
	t.Helper()
	return connectWith(t, &mcp.StreamableClientTransport{Endpoint: url, MaxRetries: -1})
}

func connectWith(t *testing.T, transport mcp.Transport) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1.0.0"}, nil)
	cs, err := client.Connect(context.Background(), transport, nil)
	if err != nil {
		t.Fatalf("connect through the bridge: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func callPID(t *testing.T, cs *mcp.ClientSession) int {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "pid"})
	if err != nil {
		t.Fatal(err)
	}
	m, ok := res.StructuredContent.(map[string]any)
	if !ok {
		t.Fatalf("structured content %#v", res.StructuredContent)
	}
	return int(m["pid"].(float64))
}

func TestClientsTalkToTheStdioServerThroughTheBridge(t *testing.T) {
	_, ts := newBridge(t, Options{})
	cs := connect(t, ts.URL)
	if got := cs.InitializeResult().ServerInfo.Name; got != "child" {
		t.Fatalf("server name %q", got)
	}
	var names []string
	for tool, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tool.Name)
	}
	if strings.Join(names, ",") != "echo,pid" {
		t.Fatalf("tools %v", names)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "line one\nline two"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "line one\nline two" {
		t.Fatalf("echo %q", got)
	}
}

func TestEachSessionGetsItsOwnProcess(t *testing.T) {
	b, ts := newBridge(t, Options{})
	a, c := connect(t, ts.URL), connect(t, ts.URL)
	pa, pc := callPID(t, a), callPID(t, c)
	if pa == pc || pa == os.Getpid() {
		t.Fatalf("want two distinct child processes, got %d and %d", pa, pc)
	}
	if n := b.Sessions(); n != 2 {
		t.Fatalf("sessions = %d", n)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the closed session's process ends", func() error {
		if processAlive(pa) {
			return fmt.Errorf("process %d still running", pa)
		}
		return nil
	})
	if callPID(t, c) != pc {
		t.Fatal("the other session must keep its process")
	}
}

func TestSessionCapRefusesWithServiceUnavailable(t *testing.T) {
	_, ts := newBridge(t, Options{MaxSessions: 1})
	connect(t, ts.URL)
	resp := post(t, ts.URL, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
}

func TestIdleSessionsAreReaped(t *testing.T) {
	b, ts := newBridge(t, Options{IdleTimeout: time.Minute})
	// An open GET stream counts as activity; this client opens none, so only its requests do.
	cs := connectWith(t, &mcp.StreamableClientTransport{Endpoint: ts.URL, MaxRetries: -1, DisableStandaloneSSE: true})
	pid := callPID(t, cs)
	clock := time.Now()
	b.now = func() time.Time { return clock }
	b.Reap()
	if b.Sessions() != 1 {
		t.Fatal("a session in use must not be reaped")
	}
	clock = clock.Add(2 * time.Minute)
	b.Reap()
	if b.Sessions() != 0 || processAlive(pid) {
		t.Fatalf("sessions %d, process alive %v", b.Sessions(), processAlive(pid))
	}
	resp := post(t, ts.URL, cs.ID(), `{"jsonrpc":"2.0","id":9,"method":"tools/list"}`)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d after reaping, want 404 so the client initializes again", resp.StatusCode)
	}
}

func TestBadRequests(t *testing.T) {
	_, ts := newBridge(t, Options{MaxBodyBytes: 1024})
	cs := connect(t, ts.URL)
	tests := []struct {
		name    string
		session string
		body    string
		want    int
	}{
		{"not JSON", cs.ID(), `{"jsonrpc":`, http.StatusBadRequest},
		{"batch", cs.ID(), `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, http.StatusBadRequest},
		{"no session header", "", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, http.StatusBadRequest},
		{"unknown session", "0123", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, http.StatusNotFound},
		{"too large", cs.ID(), `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"` + strings.Repeat("a", 2048) + `"}}`, http.StatusRequestEntityTooLarge},
		{"ping works", cs.ID(), `{"jsonrpc":"2.0","id":"p1","method":"ping"}`, http.StatusOK},
		{"notification accepted", cs.ID(), `{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}`, http.StatusAccepted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if resp := post(t, ts.URL, tc.session, tc.body); resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestCommandThatExitsFailsInitializeCleanly(t *testing.T) {
	b, err := New(Options{Command: []string{"/bin/false"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(b)
	defer ts.Close()
	resp := post(t, ts.URL, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	eventually(t, "the failed session is forgotten", func() error {
		if n := b.Sessions(); n != 0 {
			return fmt.Errorf("%d sessions", n)
		}
		return nil
	})
}

func post(t *testing.T, url, session, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if session != "" {
		req.Header.Set(SessionHeader, session)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp
}

func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// A zombie (state Z) has exited.
	fields := strings.Fields(string(b))
	return len(fields) > 2 && fields[2] != "Z"
}

func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		<-time.After(20 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

func TestLegacySSEClients(t *testing.T) {
	b, _ := newBridge(t, Options{})
	mux := http.NewServeMux()
	mux.Handle("/sse", b.SSEHandler("/sse/message"))
	mux.Handle("/sse/message", b.SSEHandler("/sse/message"))
	ts := httptest.NewServer(mux)
	defer ts.Close()

	cs := connectWith(t, &mcp.SSEClientTransport{Endpoint: ts.URL + "/sse"})
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "old client"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "old client" {
		t.Fatalf("echo %q", got)
	}
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the session ends with its stream", func() error {
		if n := b.Sessions(); n != 0 {
			return fmt.Errorf("%d sessions", n)
		}
		return nil
	})
}
