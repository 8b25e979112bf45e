package gateway

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/toolmesh/toolmesh/internal/ir"
)

func TestHostileRequests(t *testing.T) {
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo"}})
	r := mkRoute("hostile", "/mcp", be.irBackend("", true))
	r.Policies.Limits.MaxRequestBytes = 64 << 10
	s, gw := newTestGateway(t, &ir.Config{AllowedOrigins: []string{"https://app.example.com"}, Routes: []ir.Route{r}}, Options{})
	resp, _ := rawPost(t, gw.URL+"/mcp", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`, nil)
	sid := resp.Header.Get(headerSessionID)
	legacy := map[string]string{headerSessionID: sid, headerProtocolVersion: "2025-11-25"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range legacy {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	call := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}`
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	batch := "[" + strings.TrimSuffix(strings.Repeat(call+",", 200), ",") + "]"
	stateless := map[string]string{headerProtocolVersion: "2026-07-28"}
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}`
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		hdr    map[string]string
		want   int
	}{
		{"well-formed call", "POST", "/mcp", call, legacy, http.StatusOK},
		{"oversized body", "POST", "/mcp", `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("a", 100<<10) + `"}}`, legacy, http.StatusRequestEntityTooLarge},
		{"10000-deep JSON", "POST", "/mcp", `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":` + deep + `}}`, legacy, http.StatusBadRequest},
		{"not JSON", "POST", "/mcp", `{"jsonrpc":`, legacy, http.StatusBadRequest},
		{"wrong jsonrpc version", "POST", "/mcp", `{"jsonrpc":"1.0","id":1,"method":"ping"}`, legacy, http.StatusBadRequest},
		{"object id", "POST", "/mcp", `{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}`, legacy, http.StatusBadRequest},
		{"params array", "POST", "/mcp", `{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}`, legacy, http.StatusBadRequest},
		{"neither method nor id", "POST", "/mcp", `{"jsonrpc":"2.0"}`, legacy, http.StatusBadRequest},
		{"batch", "POST", "/mcp", "[" + call + "]", legacy, http.StatusBadRequest},
		{"duplicate method key", "POST", "/mcp", `{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/list"}`, legacy, http.StatusBadRequest},
		{"duplicate tool name", "POST", "/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"},"name":"other"}}`, legacy, http.StatusBadRequest},
		{"escaped duplicate key", "POST", "/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"other"}}`, legacy, http.StatusBadRequest},
		{"repeated keys in arguments are the tool's business", "POST", "/mcp", `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a","text":"x"}}}`, legacy, http.StatusOK},
		{"batch abuse", "POST", "/mcp", batch, legacy, http.StatusBadRequest},
		{"batch over the size cap", "POST", "/mcp", batch + strings.Repeat(" ", 64<<10), legacy, http.StatusRequestEntityTooLarge},
		{"dot segments", "POST", "/mcp/../admin", call, legacy, http.StatusBadRequest},
		{"encoded slash", "POST", "/mcp%2Fadmin", call, legacy, http.StatusBadRequest},
		{"encoded dot segment", "POST", "/x/%2e%2e/mcp", call, legacy, http.StatusBadRequest},
		{"trailing slash", "POST", "/mcp/", call, legacy, http.StatusBadRequest},
		{"double slash", "POST", "//mcp", call, legacy, http.StatusBadRequest},
		{"unknown path", "POST", "/admin", call, legacy, http.StatusNotFound},
		{"legacy transport unknown session", "POST", "/mcp/sse?sessionid=nope", call, legacy, http.StatusNotFound},
		{"legacy transport GET without event-stream", "GET", "/mcp/sse", "", map[string]string{"Accept": "application/json"}, http.StatusBadRequest},
		{"method header mismatch", "POST", "/mcp", call, with(map[string]string{headerMethod: "tools/list"}), http.StatusBadRequest},
		{"name header mismatch", "POST", "/mcp", call, with(map[string]string{headerMethod: "tools/call", headerName: "other"}), http.StatusBadRequest},
		{"stateless without Mcp-Method", "POST", "/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{` + meta + `}}`, stateless, http.StatusBadRequest},
		{"stateless without Mcp-Name", "POST", "/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo",` + meta + `}}`,
			map[string]string{headerProtocolVersion: "2026-07-28", headerMethod: "tools/call"}, http.StatusBadRequest},
		{"evil origin", "POST", "/mcp", call, with(map[string]string{"Origin": "https://evil.example.com"}), http.StatusForbidden},
		{"allowed origin", "POST", "/mcp", call, with(map[string]string{"Origin": "https://app.example.com"}), http.StatusOK},
		{"unsupported protocol version", "POST", "/mcp", call, with(map[string]string{headerProtocolVersion: "2024-01-01"}), http.StatusBadRequest},
		{"missing session", "POST", "/mcp", call, map[string]string{headerProtocolVersion: "2025-11-25"}, http.StatusBadRequest},
		{"garbage session", "POST", "/mcp", call, with(map[string]string{headerSessionID: "AAAA"}), http.StatusNotFound},
		{"huge session", "POST", "/mcp", call, with(map[string]string{headerSessionID: strings.Repeat("A", 16<<10)}), http.StatusNotFound},
		{"wrong content type", "POST", "/mcp", call, with(map[string]string{"Content-Type": "text/plain"}), http.StatusUnsupportedMediaType},
		{"PUT", "PUT", "/mcp", call, legacy, http.StatusMethodNotAllowed},
		{"GET without event-stream", "GET", "/mcp", "", with(map[string]string{"Accept": "application/json"}), http.StatusBadRequest},
		{"unknown tool", "POST", "/mcp", strings.Replace(call, `"echo"`, `"../../etc/passwd"`, 1), legacy, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, gw.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	if n := be.calls.Load(); n != 3 {
		t.Fatalf("backend ran %d tool calls, want exactly the 3 well-formed ones", n)
	}
	if s.Generation() != 1 {
		t.Fatal("gateway state changed")
	}
}

// jwt assembles a compact JWS from a header, claims and a signing function.
func jwt(header, claims map[string]any, sign func([]byte) []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

func TestHostileTokens(t *testing.T) {
	iss := newTestIssuer(t)
	be := newTestBackend(t, "one", backendOpts{tools: []string{"echo"}})
	s, gw := newTestGateway(t, &ir.Config{Authentication: iss.authentication(), Routes: []ir.Route{mkRoute("secure", "/mcp", be.irBackend("", true))}}, Options{})
	now := time.Now()
	claims := func(mod func(map[string]any)) string {
		c := map[string]any{"iss": iss.URL, "aud": testAudience, "sub": "alice", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
		mod(c)
		b, _ := json.Marshal(c)
		return string(b)
	}
	signed := func(mod func(map[string]any)) string {
		return oidctest.SignIDToken(iss.priv, iss.kid, oidc.RS256, claims(mod))
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(iss.priv.Public())
	hs256 := jwt(map[string]any{"alg": "HS256", "kid": iss.kid}, map[string]any{"iss": iss.URL, "aud": testAudience, "sub": "alice", "exp": now.Add(time.Hour).Unix()},
		func(in []byte) []byte { m := hmac.New(sha256.New, pubDER); m.Write(in); return m.Sum(nil) })
	none := jwt(map[string]any{"alg": "none"}, map[string]any{"iss": iss.URL, "aud": testAudience, "sub": "alice", "exp": now.Add(time.Hour).Unix()},
		func([]byte) []byte { return nil })
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	tests := []struct {
		name  string
		token string
		want  int
	}{
		{"valid", signed(func(map[string]any) {}), http.StatusOK},
		{"alg none", none, http.StatusUnauthorized},
		{"HS256 signed with the public key", hs256, http.StatusUnauthorized},
		{"wrong aud", signed(func(c map[string]any) { c["aud"] = "https://other" }), http.StatusUnauthorized},
		{"wrong iss", signed(func(c map[string]any) { c["iss"] = "https://evil.example.com" }), http.StatusUnauthorized},
		{"expired", signed(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }), http.StatusUnauthorized},
		{"future nbf", signed(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }), http.StatusUnauthorized},
		{"garbled", "x.y.z", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rawPost(t, gw.URL+"/mcp", init, map[string]string{"Authorization": "Bearer " + tt.token})
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, body, tt.want)
			}
			if tt.want == http.StatusUnauthorized && !strings.Contains(resp.Header.Get("WWW-Authenticate"), "resource_metadata=") {
				t.Fatalf("401 without resource_metadata: %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	t.Run("unknown kid 10000 times", func(t *testing.T) {
		other, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		tokens := make([]string, 64)
		for i := range tokens {
			tokens[i] = oidctest.SignIDToken(other, fmt.Sprintf("unknown-%d", i), oidc.RS256, claims(func(map[string]any) {}))
		}
		au := s.current.Load().auth.(*oidcAuthenticator).a
		before := au.JWKSFetches(iss.URL)
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < 10000; i += 8 {
					req, _ := http.NewRequest(http.MethodPost, gw.URL+"/mcp", strings.NewReader(init))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+tokens[i%len(tokens)])
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						continue
					}
					_ = resp.Body.Close()
					mu.Lock()
					statuses[resp.StatusCode]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if statuses[http.StatusUnauthorized] != 10000 {
			t.Fatalf("statuses = %v, want 10000 × 401", statuses)
		}
		if fetches := au.JWKSFetches(iss.URL) - before; fetches > 2 {
			t.Fatalf("%d JWKS fetches for 10000 unknown-kid tokens, want at most 2", fetches)
		}
	})
}

func TestCheckDuplicateKeys(t *testing.T) {
	tests := []struct {
		body string
		ok   bool
	}{
		{`{"a":1,"b":{"a":1,"a":2},"c":[1,{"x":"}"}]}`, true},
		{`{"a":1,"a":2}`, false},
		{`{"params":{"k":"v","k":"w"}}`, false},
		{`{"params":{"s":"a\"b","t":"\\"}}`, true},
		{` { "a" : 1 , "b" : "a" } `, true},
		{`{}`, true},
		{`{"params":{}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			if err := checkDuplicateKeys([]byte(tt.body)); (err == nil) != tt.ok {
				t.Fatalf("checkDuplicateKeys = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
