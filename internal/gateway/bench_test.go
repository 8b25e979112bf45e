package gateway

import (
	"context"
	"fmt"
	"testing"

	"github.com/toolmesh/toolmesh/internal/ir"
)

// BenchmarkAuthnAuthzCachedToken measures the per-call security path of the gateway: verifying
// an already-seen bearer token (verified-token cache) and a Cedar decision over 100 policies.
func BenchmarkAuthnAuthzCachedToken(b *testing.B) {
	iss := newTestIssuer(b)
	var policies []string
	for i := range 99 {
		policies = append(policies, fmt.Sprintf(`permit(principal in Group::"team-%d", action == Action::"tools/call", resource == Tool::"tool-%d");`, i, i))
	}
	policies = append(policies, `permit(principal in Group::"bench", action == Action::"tools/call", resource);`)
	cfg := &ir.Config{APIVersion: ir.APIVersion, Listeners: []ir.Listener{{Name: "http", Address: "127.0.0.1:0"}},
		Authentication: iss.authentication(), Authorization: ir.Authorization{Policies: policies},
		Routes: []ir.Route{{Name: "bench", Path: "/mcp", Backends: []ir.Backend{{Name: "b", URL: "http://127.0.0.1:9/mcp"}}}}}
	cfg.SetDefaults()
	s, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Apply(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	rt := s.current.Load()
	r := rt.routes[0]
	tok := iss.token(b, "alice", []string{"bench"})
	ctx := context.Background()
	if _, err := rt.auth.authenticate(ctx, tok); err != nil {
		b.Fatal(err)
	}
	args := map[string]any{"text": "hello"}
	res := resourceRef{kind: "Tool", name: "echo", server: "b"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cl, err := rt.auth.authenticate(ctx, tok)
		if err != nil {
			b.Fatal(err)
		}
		if d := r.authz.decide(cl, "tools/call", "bench", "b", res, args); !d.allowed {
			b.Fatal("denied")
		}
	}
}
