package gateway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolmesh/toolmesh/internal/ir"
)

func TestApplyKeepsLastGood(t *testing.T) {
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo"}})
	cfg := &ir.Config{Revision: "good", Routes: []ir.Route{mkRoute("one", "/mcp", be.irBackend("", true))}}
	s, gw := newTestGateway(t, cfg, Options{})
	bad := *cfg
	bad.Revision = "bad"
	bad.Routes = []ir.Route{mkRoute("one", "/mcp/../x", be.irBackend("", true))}
	err := s.Apply(context.Background(), &bad)
	if err == nil || !strings.Contains(err.Error(), "routes[0].path") {
		t.Fatalf("Apply(bad) = %v, want an error naming routes[0].path", err)
	}
	if s.Generation() != 1 || s.current.Load().cfg.Revision != "good" || s.LastError() == "" {
		t.Fatalf("generation %d revision %q lastError %q: the last good config was not kept", s.Generation(), s.current.Load().cfg.Revision, s.LastError())
	}
	cs := connect(t, gw.URL+"/mcp", "", nil, nil)
	if got, err := callText(t, cs, "echo", "x"); err != nil || got != "one:echo:x" {
		t.Fatalf("call after a failed reload = %q, %v", got, err)
	}
}

func TestWatchFileReloads(t *testing.T) {
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo"}})
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	write := func(revision, routePath string) {
		doc := fmt.Sprintf(`apiVersion: %s
revision: %s
listeners: [{name: http, address: "127.0.0.1:0"}]
authentication: {anonymous: Allow}
routes:
- name: one
  path: %s
  backends: [{name: one, url: %q}]
`, ir.APIVersion, revision, routePath, be.URL+"/mcp")
		if err := os.WriteFile(path+".tmp", []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write("r1", "/mcp")
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LoadFile(context.Background(), path); err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.WatchFile(ctx, path, 10*time.Millisecond)
	write("r2", "/mcp/v2")
	eventually(t, 5*time.Second, func() bool { return s.Generation() == 2 }, "generation 2")
	write("r3", "/bad/../path")
	eventually(t, 5*time.Second, func() bool { return strings.Contains(s.LastError(), "routes[0].path") }, "reload error")
	if s.Generation() != 2 || s.current.Load().cfg.Revision != "r2" {
		t.Fatalf("invalid file replaced the config: generation %d", s.Generation())
	}
}

// TestReloadUnderLoad swaps the configuration continuously while clients call tools, and
// requires zero failed calls: in-flight calls finish on the configuration they started with.
func TestReloadUnderLoad(t *testing.T) {
	a := newTestBackend(t, "alpha", backendOpts{tools: []string{"echo"}})
	b := newTestBackend(t, "beta", backendOpts{tools: []string{"echo"}, slow: 2 * time.Millisecond})
	mk := func(i int) *ir.Config {
		r := mkRoute("multi", "/mcp", a.irBackend("a_", true), b.irBackend("b_", true))
		r.Policies.Timeouts.Request = ir.Duration{Duration: time.Duration(10+i%5) * time.Second}
		r.Policies.RateLimit = &ir.RateLimit{Requests: 1000000, Interval: ir.Duration{Duration: time.Second}}
		c := &ir.Config{APIVersion: ir.APIVersion, Revision: fmt.Sprintf("rev-%d", i),
			Listeners:      []ir.Listener{{Name: "http", Address: "127.0.0.1:0"}},
			Authentication: ir.Authentication{Anonymous: ir.AnonymousAllow},
			Routes:         []ir.Route{r, mkRoute(fmt.Sprintf("extra-%d", i%3), fmt.Sprintf("/extra/%d", i%3), a.irBackend("", true))}}
		c.SetDefaults()
		return c
	}
	s, gw := newTestGateway(t, mk(0), Options{})
	const workers = 8
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		version := protocolVersions[w%len(protocolVersions)]
		cs := connect(t, gw.URL+"/mcp", version, nil, nil)
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tool := []string{"a_echo", "b_echo"}[i%2]
				if _, err := callText(t, cs, tool, "x"); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		})
	}
	for i := 1; i <= 30; i++ {
		if err := s.Apply(context.Background(), mk(i)); err != nil {
			t.Fatalf("Apply %d: %v", i, err)
		}
		target := ok.Load() + workers
		eventually(t, 10*time.Second, func() bool { return ok.Load() >= target || failed.Load() > 0 }, "calls between reloads")
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d calls failed across 30 reloads; first: %v", failed.Load(), ok.Load()+failed.Load(), firstErr.Load())
	}
	if s.Generation() != 31 {
		t.Fatalf("generation = %d, want 31", s.Generation())
	}
	t.Logf("%d calls, 0 failed, across 30 reloads", ok.Load())
}

// TestInFlightCallKeepsItsConfiguration starts a call, then applies a configuration whose timeout
// for that tool has already passed: the call still finishes, under the rules it started with.
func TestInFlightCallKeepsItsConfiguration(t *testing.T) {
	gate := make(chan struct{})
	be := newTestBackend(t, "one", backendOpts{tools: []string{"slow"}, gate: gate})
	mk := func(timeout time.Duration) *ir.Config {
		r := mkRoute("r", "/mcp", be.irBackend("", true))
		r.Policies.Timeouts.PerTool = map[string]ir.Duration{"slow": {Duration: timeout}}
		c := &ir.Config{APIVersion: ir.APIVersion, Listeners: []ir.Listener{{Name: "http", Address: "127.0.0.1:0"}},
			Authentication: ir.Authentication{Anonymous: ir.AnonymousAllow}, Routes: []ir.Route{r}}
		c.SetDefaults()
		return c
	}
	s, gw := newTestGateway(t, mk(time.Minute), Options{})
	cs := connect(t, gw.URL+"/mcp", "2025-11-25", nil, nil)
	done := make(chan error, 1)
	go func() {
		_, err := callText(t, cs, "slow", "x")
		done <- err
	}()
	eventually(t, 5*time.Second, func() bool { return be.calls.Load() == 1 }, "the call at the backend")
	if err := s.Apply(context.Background(), mk(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatalf("the in-flight call failed after the reload: %v", err)
	}
	if s.Generation() != 2 {
		t.Fatalf("generation = %d, want 2", s.Generation())
	}
}
