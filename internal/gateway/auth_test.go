package gateway

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	dto "github.com/prometheus/client_model/go"

	"github.com/toolmesh/toolmesh/internal/ir"
)

// testIssuer is a real OIDC issuer on loopback (go-oidc's oidctest server): discovery, JWKS and
// RS256-signed tokens.
type testIssuer struct {
	*httptest.Server
	priv *rsa.PrivateKey
	kid  string
}

func newTestIssuer(t testing.TB) *testIssuer {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: priv.Public(), KeyID: "k1", Algorithm: oidc.RS256}}}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	s.SetIssuer(hs.URL)
	return &testIssuer{Server: hs, priv: priv, kid: "k1"}
}

const testAudience = "https://gateway.test/mcp"

func (i *testIssuer) token(t testing.TB, sub string, groups []string) string {
	t.Helper()
	claims, _ := json.Marshal(map[string]any{
		"iss": i.URL, "aud": testAudience, "sub": sub, "groups": groups,
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	})
	return oidctest.SignIDToken(i.priv, i.kid, oidc.RS256, string(claims))
}

func (i *testIssuer) authentication() ir.Authentication {
	return ir.Authentication{OIDC: []ir.OIDCProvider{{Issuer: i.URL, Audiences: []string{testAudience}}}, Anonymous: ir.AnonymousDeny}
}

// bearerClient adds a bearer token to every request, and can route requests to alternating gateways.
type bearerClient struct {
	token   string
	targets []string
	n       atomic.Int64
}

func (b *bearerClient) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	if len(b.targets) > 0 {
		r.URL.Host = b.targets[int(b.n.Add(1))%len(b.targets)]
		r.Host = r.URL.Host
	}
	return http.DefaultTransport.RoundTrip(r)
}

func withBearer(tok string, targets ...string) *http.Client {
	return &http.Client{Transport: &bearerClient{token: tok, targets: targets}}
}

var opsPolicies = []string{
	`permit(principal in Group::"ops", action == Action::"tools/call", resource);`,
	`forbid(principal, action == Action::"tools/call", resource) when { resource.destructive };`,
}

func authRoute(be *testBackend) ir.Route {
	r := mkRoute("secure", "/mcp", be.irBackend("", true))
	r.Authorization.Policies = opsPolicies
	return r
}

func TestAuthenticationChallenge(t *testing.T) {
	iss := newTestIssuer(t)
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo"}})
	_, gw := newTestGateway(t, &ir.Config{Authentication: iss.authentication(), Routes: []ir.Route{authRoute(be)}}, Options{})
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	tests := []struct {
		name, auth, wantError string
	}{
		{"missing token", "", ""},
		{"garbled token", "Bearer not.a.jwt", `error="invalid_token"`},
		{"wrong scheme", "Basic Zm9vOmJhcg==", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := rawPost(t, gw.URL+"/mcp", init, map[string]string{"Authorization": tt.auth})
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", resp.StatusCode)
			}
			wa := resp.Header.Get("WWW-Authenticate")
			wantMeta := `resource_metadata="` + gw.URL + `/.well-known/oauth-protected-resource/mcp"`
			if !strings.Contains(wa, wantMeta) || !strings.Contains(wa, tt.wantError) {
				t.Fatalf("WWW-Authenticate = %q, want %s and %q", wa, wantMeta, tt.wantError)
			}
		})
	}
	t.Run("protected resource metadata", func(t *testing.T) {
		resp, err := http.Get(gw.URL + "/.well-known/oauth-protected-resource/mcp")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		var doc struct {
			Resource             string   `json:"resource"`
			AuthorizationServers []string `json:"authorization_servers"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if doc.Resource != gw.URL+"/mcp" || !slices.Equal(doc.AuthorizationServers, []string{iss.URL}) {
			t.Fatalf("metadata = %+v", doc)
		}
	})
}

func TestAuthorizationFiltersAndDenies(t *testing.T) {
	iss := newTestIssuer(t)
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo", "wipe"}, destructive: []string{"wipe"}})
	_, gw := newTestGateway(t, &ir.Config{Authentication: iss.authentication(), Routes: []ir.Route{authRoute(be)}}, Options{})
	tests := []struct {
		name      string
		groups    []string
		wantTools []string
		echoOK    bool
	}{
		{"ops member", []string{"ops"}, []string{"echo"}, true},
		{"outsider", []string{"dev"}, nil, false},
	}
	for _, tt := range tests {
		for _, v := range protocolVersions {
			t.Run(tt.name+"/"+v, func(t *testing.T) {
				cs := connect(t, gw.URL+"/mcp", v, nil, withBearer(iss.token(t, tt.name, tt.groups)))
				if got := toolNames(t, cs); !slices.Equal(got, tt.wantTools) {
					t.Fatalf("tools = %v, want %v", got, tt.wantTools)
				}
				_, err := callText(t, cs, "echo", "x")
				if tt.echoOK != (err == nil) {
					t.Fatalf("echo error = %v, want ok=%v", err, tt.echoOK)
				}
				_, err = callText(t, cs, "wipe", "x")
				var werr *jsonrpc.Error
				if !errors.As(err, &werr) || werr.Code != CodeForbidden {
					t.Fatalf("wipe error = %v, want JSON-RPC code %d", err, CodeForbidden)
				}
			})
		}
	}
	if be.calls.Load() != int64(len(protocolVersions)) {
		t.Fatalf("backend saw %d calls, want only the %d allowed ones", be.calls.Load(), len(protocolVersions))
	}
}

func TestSessionBinding(t *testing.T) {
	iss := newTestIssuer(t)
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo"}})
	key := []byte("0123456789abcdef0123456789abcdef")
	cfg := func() *ir.Config {
		r := mkRoute("secure", "/mcp", be.irBackend("", true))
		return &ir.Config{Authentication: iss.authentication(), Routes: []ir.Route{r}}
	}
	_, gw1 := newTestGateway(t, cfg(), Options{SessionKey: key})
	_, gw2 := newTestGateway(t, cfg(), Options{SessionKey: key})
	alice := iss.token(t, "alice", nil)

	t.Run("one session alternating between two gateway replicas", func(t *testing.T) {
		hc := withBearer(alice, strings.TrimPrefix(gw1.URL, "http://"), strings.TrimPrefix(gw2.URL, "http://"))
		cs := connect(t, gw1.URL+"/mcp", "2025-11-25", nil, hc)
		for i := range 6 {
			if got, err := callText(t, cs, "echo", "x"); err != nil || got != "one:echo:x" {
				t.Fatalf("call %d = %q, %v", i, got, err)
			}
		}
		if n := hc.Transport.(*bearerClient).n.Load(); n < 8 {
			t.Fatalf("only %d requests made", n)
		}
	})

	resp, _ := rawPost(t, gw1.URL+"/mcp", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`,
		map[string]string{"Authorization": "Bearer " + alice})
	sid := resp.Header.Get(headerSessionID)
	if resp.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: status %d, session %q", resp.StatusCode, sid)
	}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	tampered := []byte(sid)
	tampered[len(tampered)/2] ^= 1
	tests := []struct {
		name, token, session string
		want                 int
	}{
		{"owner", alice, sid, http.StatusOK},
		{"other replica", alice, sid, http.StatusOK},
		{"another principal", iss.token(t, "mallory", nil), sid, http.StatusForbidden},
		{"tampered", alice, string(tampered), http.StatusNotFound},
		{"foreign key", alice, foreignSession(t, be), http.StatusNotFound},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := []string{gw1.URL, gw2.URL}[i%2]
			resp, body := rawPost(t, url+"/mcp", list, map[string]string{"Authorization": "Bearer " + tt.token,
				headerSessionID: tt.session, headerProtocolVersion: "2025-11-25"})
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, body, tt.want)
			}
		})
	}
}

// foreignSession returns a session id sealed by a gateway with another key.
func foreignSession(t *testing.T, be *testBackend) string {
	_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{mkRoute("secure", "/mcp", be.irBackend("", true))}}, Options{})
	resp, _ := rawPost(t, gw.URL+"/mcp", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`, nil)
	return resp.Header.Get(headerSessionID)
}

func TestAuthorizationAuditMode(t *testing.T) {
	iss := newTestIssuer(t)
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo", "wipe"}, destructive: []string{"wipe"}})
	r := authRoute(be)
	r.Authorization.Mode = ir.AuthorizationAudit
	s, gw := newTestGateway(t, &ir.Config{Authentication: iss.authentication(), Routes: []ir.Route{r}}, Options{})
	cs := connect(t, gw.URL+"/mcp", "2025-11-25", nil, withBearer(iss.token(t, "outsider", nil)))
	if _, err := callText(t, cs, "wipe", "x"); err != nil {
		t.Fatalf("Audit mode denied the call: %v", err)
	}
	var m dto.Metric
	if err := s.metrics.authz.WithLabelValues("secure", "tools/call", "audit_deny").Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != 1 {
		t.Fatalf("audit_deny decisions = %v, want 1", got)
	}
}

func TestInvalidPoliciesKeepLastGood(t *testing.T) {
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo"}})
	s, _ := newTestGateway(t, &ir.Config{Routes: []ir.Route{mkRoute("r", "/mcp", be.irBackend("", true))}}, Options{})
	bad := &ir.Config{APIVersion: ir.APIVersion, Listeners: []ir.Listener{{Name: "http", Address: "127.0.0.1:0"}},
		Authentication: ir.Authentication{Anonymous: ir.AnonymousAllow},
		Routes:         []ir.Route{mkRoute("r", "/mcp", be.irBackend("", true))}}
	bad.Routes[0].Authorization.Policies = []string{"permit(principal, action, resource"}
	bad.SetDefaults()
	if err := s.Apply(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "route r") {
		t.Fatalf("Apply with a broken policy = %v, want a compile error naming the route", err)
	}
	if s.Generation() != 1 {
		t.Fatalf("generation = %d, want 1", s.Generation())
	}
}

func TestSessionExpiryAndDelete(t *testing.T) {
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo"}})
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	open := func(t *testing.T, url string) string {
		resp, _ := rawPost(t, url, init, nil)
		sid := resp.Header.Get(headerSessionID)
		rawPost(t, url, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, map[string]string{headerSessionID: sid, headerProtocolVersion: "2025-11-25"})
		return sid
	}
	status := func(t *testing.T, url, sid string) int {
		resp, _ := rawPost(t, url, list, map[string]string{headerSessionID: sid, headerProtocolVersion: "2025-11-25"})
		return resp.StatusCode
	}
	t.Run("expired", func(t *testing.T) {
		cfg := &ir.Config{Session: ir.Session{TTL: ir.Duration{Duration: time.Nanosecond}}, Routes: []ir.Route{mkRoute("r", "/mcp", be.irBackend("", true))}}
		_, gw := newTestGateway(t, cfg, Options{})
		sid := open(t, gw.URL+"/mcp")
		eventually(t, 5*time.Second, func() bool { return status(t, gw.URL+"/mcp", sid) == http.StatusNotFound }, "the session to expire")
	})
	t.Run("deleted", func(t *testing.T) {
		_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{mkRoute("r", "/mcp", be.irBackend("", true))}}, Options{})
		sid := open(t, gw.URL+"/mcp")
		if got := status(t, gw.URL+"/mcp", sid); got != http.StatusOK {
			t.Fatalf("live session: status %d", got)
		}
		req, _ := http.NewRequest(http.MethodDelete, gw.URL+"/mcp", nil)
		req.Header.Set(headerSessionID, sid)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE: status %d", resp.StatusCode)
		}
		if got := status(t, gw.URL+"/mcp", sid); got != http.StatusNotFound {
			t.Fatalf("after DELETE: status %d, want 404 (the backend session is gone)", got)
		}
	})
}

func TestSessionKeyRotation(t *testing.T) {
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo"}})
	dir := t.TempDir()
	oldKey := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	newKey := base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
	keyFile := filepath.Join(dir, "key")
	mk := func(content string) *ir.Config {
		if err := os.WriteFile(keyFile, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		c := &ir.Config{APIVersion: ir.APIVersion, Listeners: []ir.Listener{{Name: "http", Address: "127.0.0.1:0"}},
			Authentication: ir.Authentication{Anonymous: ir.AnonymousAllow}, Session: ir.Session{KeyFile: keyFile},
			Routes: []ir.Route{mkRoute("r", "/mcp", be.irBackend("", true))}}
		c.SetDefaults()
		return c
	}
	s, gw := newTestGateway(t, mk(oldKey+"\n"), Options{})
	cs := connect(t, gw.URL+"/mcp", "2025-11-25", nil, nil)
	if err := s.Apply(context.Background(), mk(newKey+"\n"+oldKey+"\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := callText(t, cs, "echo", "x"); err != nil {
		t.Fatalf("a session sealed with the previous key after rotation: %v", err)
	}
	if err := s.Apply(context.Background(), mk(newKey)); err != nil {
		t.Fatal(err)
	}
	if _, err := callText(t, cs, "echo", "x"); err == nil {
		t.Fatal("a session sealed with a retired key still works")
	}
	if err := s.Apply(context.Background(), mk("short")); err == nil || !strings.Contains(err.Error(), "session.keyFile") {
		t.Fatalf("a short key: %v", err)
	}
}

// TestRoutePoliciesOnlyNarrowTheGateways proves the layering: a route that permits everything and
// audits instead of enforcing still cannot call what the gateway's Enforce policies deny, and a
// route's policies can deny what the gateway allows.
func TestRoutePoliciesOnlyNarrowTheGateways(t *testing.T) {
	iss := newTestIssuer(t)
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo", "wipe"}, destructive: []string{"wipe"}})
	widening := mkRoute("secure", "/mcp", be.irBackend("", true))
	widening.Authorization = ir.Authorization{Mode: ir.AuthorizationAudit,
		Policies: []string{`permit(principal, action, resource);`}}
	narrowing := mkRoute("narrow", "/narrow", be.irBackend("", true))
	narrowing.Authorization = ir.Authorization{Policies: []string{
		`permit(principal, action, resource);`,
		`forbid(principal, action == Action::"tools/call", resource) when { resource.name == "echo" };`,
	}}
	cfg := &ir.Config{Authentication: iss.authentication(), Routes: []ir.Route{widening, narrowing},
		Authorization: ir.Authorization{Policies: append([]string{`permit(principal, action, resource) unless { action == Action::"tools/call" };`}, opsPolicies...)}}
	_, gw := newTestGateway(t, cfg, Options{})

	ops := connect(t, gw.URL+"/mcp", "2025-11-25", nil, withBearer(iss.token(t, "alice", []string{"ops"})))
	if _, err := callText(t, ops, "echo", "x"); err != nil {
		t.Fatalf("the gateway allows ops to call echo: %v", err)
	}
	if _, err := callText(t, ops, "wipe", "x"); err == nil {
		t.Fatal("a route in Audit mode with a blanket permit widened the gateway's forbid")
	}
	outsider := connect(t, gw.URL+"/mcp", "2025-11-25", nil, withBearer(iss.token(t, "eve", nil)))
	if _, err := callText(t, outsider, "echo", "x"); err == nil {
		t.Fatal("a route's permit widened the gateway's policy to a caller outside ops")
	}
	narrow := connect(t, gw.URL+"/narrow", "2025-11-25", nil, withBearer(iss.token(t, "alice", []string{"ops"})))
	if _, err := callText(t, narrow, "echo", "x"); err == nil {
		t.Fatal("the route's forbid did not narrow what the gateway allows")
	}
}

// TestRouteAudiencesNarrowTheGateways proves RFC 8707 binding per route: both routes trust the
// same issuer and gateway audiences, but a token minted for one route's resource is refused on a
// route that names another.
func TestRouteAudiencesNarrowTheGateways(t *testing.T) {
	iss := newTestIssuer(t)
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo"}})
	const gpuResource = "https://gateway.test/mcp/gpu"
	auth := iss.authentication()
	auth.OIDC[0].Audiences = append(auth.OIDC[0].Audiences, gpuResource)
	bound := mkRoute("gpu", "/mcp/gpu", be.irBackend("", true))
	bound.Authentication.Audiences = []string{gpuResource}
	open := mkRoute("shared", "/mcp", be.irBackend("", true))
	_, gw := newTestGateway(t, &ir.Config{Authentication: auth, Routes: []ir.Route{bound, open}}, Options{})

	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	tokenFor := func(aud string) string {
		claims, _ := json.Marshal(map[string]any{"iss": iss.URL, "aud": aud, "sub": "alice",
			"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()})
		return oidctest.SignIDToken(iss.priv, iss.kid, oidc.RS256, string(claims))
	}
	tests := []struct {
		name, path, aud string
		want            int
	}{
		{"the route's own resource", "/mcp/gpu", gpuResource, http.StatusOK},
		{"a token for the gateway in general", "/mcp/gpu", testAudience, http.StatusUnauthorized},
		{"a route without audiences takes any gateway audience", "/mcp", testAudience, http.StatusOK},
		{"and the other route's resource too", "/mcp", gpuResource, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := rawPost(t, gw.URL+tc.path, init, map[string]string{"Authorization": "Bearer " + tokenFor(tc.aud)})
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusUnauthorized && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}
