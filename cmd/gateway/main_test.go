package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// TestRunServesReloadsAndTraces runs the command against a go-sdk backend: it serves the route,
// reloads the file when it changes, keeps the last good configuration when the file turns
// invalid, and exports traces to the OTLP endpoint it was given.
func TestRunServesReloadsAndTraces(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "backend", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "ping"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "pong"}}}, nil, nil
	})
	backend := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	defer backend.Close()
	var traces atomic.Int64
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" {
			traces.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()

	listen, admin := freeAddr(t), freeAddr(t)
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	write := func(revision, routePath string) {
		doc := fmt.Sprintf("apiVersion: toolmesh.io/gateway-config/v1alpha1\nrevision: %s\nlisteners: [{name: http, address: %q}]\nauthentication: {anonymous: Allow}\nroutes:\n- name: r\n  path: %s\n  backends: [{name: b, url: %q}]\n",
			revision, listen, routePath, backend.URL+"/mcp")
		if err := os.WriteFile(path+".tmp", []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write("one", "/mcp")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, flags{config: path, admin: admin, reloadInterval: 20 * time.Millisecond,
			logLevel: "error", otlpEndpoint: collector.URL})
	}()
	poll(t, "readiness", func() bool { code, _ := get("http://" + admin + "/readyz"); return code == http.StatusOK })

	connect := func(url string) error {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(cctx, &mcp.StreamableClientTransport{Endpoint: url, MaxRetries: -1}, nil)
		if err != nil {
			return err
		}
		defer func() { _ = cs.Close() }()
		_, err = cs.CallTool(cctx, &mcp.CallToolParams{Name: "ping"})
		return err
	}
	if err := connect("http://" + listen + "/mcp"); err != nil {
		t.Fatalf("call through the gateway: %v", err)
	}
	write("two", "/mcp/v2")
	poll(t, "reload to revision two", func() bool {
		_, body := get("http://" + admin + "/config")
		return strings.Contains(body, `"revision":"two"`)
	})
	if err := connect("http://" + listen + "/mcp/v2"); err != nil {
		t.Fatalf("call on the reloaded route: %v", err)
	}
	write("three", "/not/../clean")
	poll(t, "the reload error", func() bool {
		_, body := get("http://" + admin + "/config")
		return strings.Contains(body, "routes[0].path")
	})
	if _, body := get("http://" + admin + "/config"); !strings.Contains(body, `"revision":"two"`) {
		t.Fatalf("an invalid file replaced the configuration: %s", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if traces.Load() == 0 {
		t.Fatal("no trace reached the OTLP endpoint")
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name string
		f    flags
		want string
	}{
		{"no config", flags{logLevel: "info"}, "--config is required"},
		{"bad log level", flags{config: "x", logLevel: "loud"}, "--log-level"},
		{"missing file", flags{config: filepath.Join(t.TempDir(), "none.yaml"), logLevel: "info"}, "read config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.f)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run = %v, want %q", err, tt.want)
			}
		})
	}
}
