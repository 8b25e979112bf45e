package authn_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/toolmesh/toolmesh/internal/gateway/authn"
)

const (
	testAudience = "https://gw.example.test/mcp/gpu"
	k8sIssuer    = "https://kubernetes.default.svc.cluster.local"
)

// epoch is the fixed start of every fake clock.
var epoch = time.Unix(1_900_000_000, 0)

// Keys are generated once: RSA key generation is slow on a shared machine.
var (
	keysOnce            sync.Once
	rsaKey, otherRSAKey *rsa.PrivateKey
	ecKey               *ecdsa.PrivateKey
)

func keys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if otherRSAKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

// fakeClock is a manually advanced clock.
type fakeClock struct{ ns atomic.Int64 }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(epoch.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// testIssuer is a real OIDC issuer on loopback: go-oidc's oidctest server
// (discovery + JWKS) behind a handler that counts requests.
type testIssuer struct {
	URL           string
	priv          crypto.Signer
	kid, alg      string
	jwksHits      atomic.Int64
	requireBearer atomic.Pointer[string] // when set, /keys demands this bearer token
	discoveryHits atomic.Int64
	srv           *httptest.Server
}

func newIssuer(t testing.TB, priv crypto.Signer, kid, alg string, tlsServer bool) *testIssuer {
	t.Helper()
	ti := &testIssuer{priv: priv, kid: kid, alg: alg}
	inner := &oidctest.Server{
		PublicKeys: []oidctest.PublicKey{{PublicKey: priv.Public(), KeyID: kid, Algorithm: alg}},
		Algorithms: []string{alg},
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/keys":
			ti.jwksHits.Add(1)
			if want := ti.requireBearer.Load(); want != nil && r.Header.Get("Authorization") != "Bearer "+*want {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
		case "/.well-known/openid-configuration":
			ti.discoveryHits.Add(1)
		}
		inner.ServeHTTP(w, r)
	})
	if tlsServer {
		ti.srv = httptest.NewTLSServer(h)
	} else {
		ti.srv = httptest.NewServer(h)
	}
	t.Cleanup(ti.srv.Close)
	ti.URL = ti.srv.URL
	inner.SetIssuer(ti.URL)
	return ti
}

// claims returns a valid claim set for the issuer at the fake clock's epoch.
func (ti *testIssuer) claims() map[string]any {
	return map[string]any{
		"iss":    ti.URL,
		"aud":    testAudience,
		"sub":    "user-1",
		"email":  "ada@example.test",
		"groups": []string{"sre", "gpu-users"},
		"iat":    epoch.Unix(),
		"exp":    epoch.Add(time.Hour).Unix(),
	}
}

func (ti *testIssuer) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	return signWith(t, ti.priv, ti.kid, ti.alg, claims)
}

func signWith(t testing.TB, priv crypto.Signer, kid, alg string, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return oidctest.SignIDToken(priv, kid, alg, string(b))
}

// handMade builds a compact JWS with an arbitrary header and signature function.
func handMade(t testing.TB, header, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(claims)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

// embeddedJWK signs claims with priv and carries priv's public key in the
// token's own "jwk" header, which a verifier must never trust.
func embeddedJWK(t testing.TB, priv *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: priv},
		&jose.SignerOptions{EmbedJWK: true, ExtraHeaders: map[jose.HeaderKey]any{"kid": kid}})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(decodeHeader(t, out), `"jwk"`) {
		t.Fatal("token has no embedded jwk")
	}
	return out
}

func decodeHeader(t testing.TB, token string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newAuthenticator(t testing.TB, clk *fakeClock, opts authn.Options, providers ...authn.ProviderConfig) *authn.Authenticator {
	t.Helper()
	opts.Now = clk.Now
	a, err := authn.NewAuthenticator(context.Background(), providers, opts)
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	return a
}

func provider(ti *testIssuer) authn.ProviderConfig {
	return authn.ProviderConfig{Issuer: ti.URL, Audiences: []string{testAudience}, Algorithms: []string{ti.alg}}
}

func with(base map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(base))
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func TestAuthenticateHostileTokens(t *testing.T) {
	keys(t)
	iss := newIssuer(t, rsaKey, "rsa-1", "RS256", false)
	c := iss.claims()
	pubDER, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hmacWith := func(key []byte) func([]byte) []byte {
		return func(in []byte) []byte {
			m := hmac.New(sha256.New, key)
			m.Write(in)
			return m.Sum(nil)
		}
	}
	valid := iss.sign(t, c)
	parts := strings.Split(valid, ".")
	tamperedPayload := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+iss.URL+`","aud":"`+testAudience+`","sub":"admin","exp":`+fmt.Sprint(epoch.Add(time.Hour).Unix())+`}`)) + "." + parts[2]

	tests := []struct {
		name  string
		token string
		want  authn.Reason
	}{
		{"missing bearer", "", authn.ReasonMissingToken},
		{"garbled bearer", "not a jwt at all", authn.ReasonMalformedToken},
		{"three garbage parts", "a.b.c", authn.ReasonMalformedToken},
		{"json serialization instead of compact", `{"payload":"e30","signatures":[]}`, authn.ReasonMalformedToken},
		{"oversized bearer", strings.Repeat("a", authn.DefaultMaxTokenBytes+1), authn.ReasonMalformedToken},
		{"alg none without signature", handMade(t, map[string]any{"alg": "none"}, c, func([]byte) []byte { return nil }), authn.ReasonMalformedToken},
		{"alg none with a signature", handMade(t, map[string]any{"alg": "none", "kid": "rsa-1"}, c, func([]byte) []byte { return []byte("x") }), authn.ReasonUnsupportedAlgorithm},
		{"HS256 keyed with the public key PEM", handMade(t, map[string]any{"alg": "HS256", "kid": "rsa-1"}, c, hmacWith(pubPEM)), authn.ReasonUnsupportedAlgorithm},
		{"HS256 keyed with the public key DER", handMade(t, map[string]any{"alg": "HS256", "kid": "rsa-1"}, c, hmacWith(pubDER)), authn.ReasonUnsupportedAlgorithm},
		{"RS512 not in the allow-list", signWith(t, rsaKey, "rsa-1", "RS512", c), authn.ReasonUnsupportedAlgorithm},
		{"wrong aud", iss.sign(t, with(c, "aud", "https://other.example.test/mcp")), authn.ReasonInvalidAudience},
		{"wrong iss", iss.sign(t, with(c, "iss", "https://evil.example.test")), authn.ReasonUnknownIssuer},
		{"no iss", iss.sign(t, with(c, "iss", nil)), authn.ReasonUnknownIssuer},
		{"iss not a string", iss.sign(t, with(c, "iss", []string{iss.URL})), authn.ReasonMalformedToken},
		{"expired beyond skew", iss.sign(t, with(c, "exp", epoch.Add(-time.Minute).Unix())), authn.ReasonExpired},
		{"no exp", iss.sign(t, with(c, "exp", nil)), authn.ReasonInvalidClaims},
		{"future nbf beyond skew", iss.sign(t, with(c, "nbf", epoch.Add(5*time.Minute).Unix())), authn.ReasonNotYetValid},
		{"future iat beyond skew", iss.sign(t, with(c, "iat", epoch.Add(5*time.Minute).Unix())), authn.ReasonNotYetValid},
		{"no sub", iss.sign(t, with(c, "sub", nil)), authn.ReasonInvalidClaims},
		{"unknown kid", signWith(t, rsaKey, "rsa-unknown", "RS256", c), authn.ReasonUnknownKey},
		{"right kid, foreign key", signWith(t, otherRSAKey, "rsa-1", "RS256", c), authn.ReasonInvalidSignature},
		{"tampered payload", tamperedPayload, authn.ReasonInvalidSignature},
		{"ES256 header on an RSA key", signWith(t, ecKey, "rsa-1", "ES256", c), authn.ReasonUnsupportedAlgorithm},
		{"attacker key embedded as jwk header", embeddedJWK(t, otherRSAKey, "rsa-1", c), authn.ReasonInvalidSignature},
	}
	clk := newClock()
	a := newAuthenticator(t, clk, authn.Options{}, provider(iss))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Authenticate(context.Background(), tt.token)
			if err == nil {
				t.Fatalf("Authenticate accepted a hostile token as %v", p)
			}
			var ae *authn.Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *authn.Error", err)
			}
			if ae.Reason != tt.want {
				t.Errorf("reason = %s, want %s (err %v)", ae.Reason, tt.want, err)
			}
			if ae.HTTPStatus() != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", ae.HTTPStatus())
			}
			if tt.token != "" && (strings.Contains(err.Error(), tt.token) || strings.Contains(fmt.Sprintf("%+v", err), tt.token)) {
				t.Error("error text contains the token")
			}
		})
	}
	if _, err := a.Authenticate(context.Background(), valid); err != nil {
		t.Fatalf("the valid token beside the hostile ones failed: %v", err)
	}
}

func TestAuthenticateValid(t *testing.T) {
	keys(t)
	rsaIss := newIssuer(t, rsaKey, "rsa-1", "RS256", false)
	ecIss := newIssuer(t, ecKey, "ec-1", "ES256", false)
	clk := newClock()
	ecProvider := provider(ecIss)
	ecProvider.UsernameClaim = "email"
	ecProvider.GroupsClaim = "roles"
	a := newAuthenticator(t, clk, authn.Options{}, provider(rsaIss), ecProvider)

	tests := []struct {
		name       string
		token      string
		wantUser   string
		wantGroups []string
		wantIssuer string
	}{
		{"first issuer RS256", rsaIss.sign(t, rsaIss.claims()), "user-1", []string{"sre", "gpu-users"}, rsaIss.URL},
		{"second issuer ES256 with custom claims", ecIss.sign(t, with(ecIss.claims(), "roles", "admins")), "ada@example.test", []string{"admins"}, ecIss.URL},
		{"aud array containing ours", rsaIss.sign(t, with(rsaIss.claims(), "aud", []string{"other", testAudience})), "user-1", []string{"sre", "gpu-users"}, rsaIss.URL},
		{"expired within skew", rsaIss.sign(t, with(rsaIss.claims(), "exp", epoch.Add(-10*time.Second).Unix())), "user-1", []string{"sre", "gpu-users"}, rsaIss.URL},
		{"nbf within skew", rsaIss.sign(t, with(rsaIss.claims(), "nbf", epoch.Add(10*time.Second).Unix())), "user-1", []string{"sre", "gpu-users"}, rsaIss.URL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Authenticate(context.Background(), tt.token)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if p.Username != tt.wantUser || p.Issuer != tt.wantIssuer || p.Subject != "user-1" {
				t.Errorf("principal = %v, want user %s issuer %s", p, tt.wantUser, tt.wantIssuer)
			}
			if fmt.Sprint(p.Groups) != fmt.Sprint(tt.wantGroups) {
				t.Errorf("groups = %v, want %v", p.Groups, tt.wantGroups)
			}
			if p.Token != tt.token || !p.HasAudience(testAudience) || p.ID() != tt.wantIssuer+" user-1" {
				t.Errorf("token, audience or id not carried: aud=%v id=%q", p.Audience, p.ID())
			}
		})
	}
	if got := rsaIss.jwksHits.Load() + ecIss.jwksHits.Load(); got != 2 {
		t.Errorf("JWKS fetches = %d, want one per issuer", got)
	}
}

func TestUnknownKidFlood(t *testing.T) {
	keys(t)
	iss := newIssuer(t, rsaKey, "rsa-1", "RS256", false)
	clk := newClock()
	a := newAuthenticator(t, clk, authn.Options{JWKSRefetchInterval: time.Minute}, provider(iss))
	ctx := context.Background()
	if _, err := a.Authenticate(ctx, iss.sign(t, iss.claims())); err != nil {
		t.Fatalf("valid token: %v", err)
	}
	// Each flood token is distinct so the verified-token cache cannot help.
	const flood = 10000
	var wg sync.WaitGroup
	var accepted atomic.Int64
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < flood; i += 8 {
				tok := handMade(t, map[string]any{"alg": "RS256", "kid": fmt.Sprintf("evil-%d", i)}, iss.claims(), func([]byte) []byte { return []byte("sig") })
				if _, err := a.Authenticate(ctx, tok); authn.ReasonOf(err) != authn.ReasonUnknownKey {
					accepted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if accepted.Load() != 0 {
		t.Errorf("%d flood tokens were not refused as unknown_key", accepted.Load())
	}
	t.Logf("%d unknown-kid tokens: %d JWKS fetches", flood, iss.jwksHits.Load())
	// One fetch for the valid token, at most one more within the interval.
	if got := iss.jwksHits.Load(); got > 2 {
		t.Errorf("JWKS fetches after %d unknown kids = %d, want ≤ 2", flood, got)
	}
	if got := a.JWKSFetches(iss.URL); got != iss.jwksHits.Load() {
		t.Errorf("JWKSFetches = %d, server saw %d", got, iss.jwksHits.Load())
	}
	before := iss.jwksHits.Load()
	clk.Advance(time.Minute)
	for range 100 {
		_, _ = a.Authenticate(ctx, signWith(t, rsaKey, "rsa-2", "RS256", iss.claims()))
	}
	if got := iss.jwksHits.Load() - before; got != 1 {
		t.Errorf("JWKS fetches after the interval = %d, want exactly 1", got)
	}
	if got := iss.discoveryHits.Load(); got != 1 {
		t.Errorf("discovery fetches = %d, want 1", got)
	}
}

func TestKeyRotationIsPickedUp(t *testing.T) {
	keys(t)
	// The issuer publishes only the new key; the authenticator cached the old one.
	old := newIssuer(t, rsaKey, "rsa-1", "RS256", false)
	clk := newClock()
	rotated := newIssuer(t, otherRSAKey, "rsa-2", "RS256", false)
	pc := provider(old)
	pc.JWKSURI = rotated.URL + "/keys"
	a := newAuthenticator(t, clk, authn.Options{JWKSRefetchInterval: time.Minute}, pc)
	tok := signWith(t, otherRSAKey, "rsa-2", "RS256", old.claims())
	if _, err := a.Authenticate(context.Background(), tok); err != nil {
		t.Fatalf("token signed with the published key: %v", err)
	}
	if old.discoveryHits.Load() != 0 {
		t.Error("discovery ran although jwksURI is configured")
	}
}

func TestKubernetesServiceAccountIssuer(t *testing.T) {
	keys(t)
	// The API server's issuer name is not the address the keys are served
	// from, and it serves them only to authenticated callers.
	const gatewayToken = "gateway-projected-token"
	keysSrv := newIssuer(t, rsaKey, "sa-key", "RS256", false)
	want := gatewayToken
	keysSrv.requireBearer.Store(&want)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(gatewayToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	pc := authn.ProviderConfig{
		Issuer:    k8sIssuer,
		Audiences: []string{testAudience},
		JWKSURI:   keysSrv.URL + "/keys",
	}
	t.Run("without the bearer token the keys are unavailable", func(t *testing.T) {
		a := newAuthenticator(t, clk, authn.Options{}, pc)
		_, err := a.Authenticate(context.Background(), signWith(t, rsaKey, "sa-key", "RS256", map[string]any{"iss": k8sIssuer}))
		if authn.ReasonOf(err) != authn.ReasonProviderUnavailable {
			t.Fatalf("err = %v, want provider_unavailable", err)
		}
	})
	pc.KeysBearerTokenFile = tokenFile
	a := newAuthenticator(t, clk, authn.Options{}, pc)
	claims := map[string]any{
		"iss": k8sIssuer,
		"aud": []string{testAudience},
		"sub": "system:serviceaccount:team-a:agent",
		"exp": epoch.Add(time.Hour).Unix(),
		"iat": epoch.Unix(),
		"nbf": epoch.Unix(),
		"kubernetes.io": map[string]any{
			"namespace":      "team-a",
			"serviceaccount": map[string]any{"name": "agent", "uid": "0d5c"},
		},
	}
	p, err := a.Authenticate(context.Background(), signWith(t, rsaKey, "sa-key", "RS256", claims))
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if p.Username != "system:serviceaccount:team-a:agent" || p.Issuer != k8sIssuer {
		t.Errorf("principal = %v", p)
	}
}

func TestCABundle(t *testing.T) {
	keys(t)
	iss := newIssuer(t, ecKey, "ec-1", "ES256", true)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: iss.srv.Certificate().Raw})
	tests := []struct {
		name string
		ca   []byte
		want authn.Reason
	}{
		{"without the CA the issuer is unavailable", nil, authn.ReasonProviderUnavailable},
		{"with the CA bundle the token verifies", caPEM, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := provider(iss)
			pc.CABundlePEM = tt.ca
			a := newAuthenticator(t, newClock(), authn.Options{}, pc)
			_, err := a.Authenticate(context.Background(), iss.sign(t, iss.claims()))
			if got := authn.ReasonOf(err); got != tt.want {
				t.Fatalf("reason = %q, want %q (err %v)", got, tt.want, err)
			}
			var ae *authn.Error
			if errors.As(err, &ae) && ae.HTTPStatus() != http.StatusServiceUnavailable {
				t.Errorf("status = %d, want 503", ae.HTTPStatus())
			}
		})
	}
}

func TestTokenCache(t *testing.T) {
	keys(t)
	iss := newIssuer(t, rsaKey, "rsa-1", "RS256", false)
	clk := newClock()
	a := newAuthenticator(t, clk, authn.Options{CacheSize: 32}, provider(iss))
	ctx := context.Background()
	tok := iss.sign(t, iss.claims())
	p1, err := a.Authenticate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a repeated token is served from the cache", func(t *testing.T) {
		p2, err := a.Authenticate(ctx, tok)
		if err != nil || p2 != p1 {
			t.Fatalf("second Authenticate = %p, %v; want the cached %p", p2, err, p1)
		}
	})
	t.Run("the cache is bounded", func(t *testing.T) {
		for i := range 200 {
			if _, err := a.Authenticate(ctx, iss.sign(t, with(iss.claims(), "jti", fmt.Sprint(i)))); err != nil {
				t.Fatal(err)
			}
		}
		if n := a.CachedTokens(); n > 32 {
			t.Errorf("cache holds %d entries, bound is 32", n)
		}
	})
	t.Run("a cached token stops working at exp", func(t *testing.T) {
		clk.Advance(time.Hour + time.Minute)
		if _, err := a.Authenticate(ctx, tok); authn.ReasonOf(err) != authn.ReasonExpired {
			t.Fatalf("expired cached token: err = %v, want token_expired", err)
		}
	})
}

func TestPrincipalNeverPrintsToken(t *testing.T) {
	keys(t)
	iss := newIssuer(t, rsaKey, "rsa-1", "RS256", false)
	a := newAuthenticator(t, newClock(), authn.Options{}, provider(iss))
	tok := iss.sign(t, iss.claims())
	p, err := a.Authenticate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("call", "principal", p, "value", *p)
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":     fmt.Sprintf("%v", p),
		"%+v":    fmt.Sprintf("%+v", *p),
		"%#v":    fmt.Sprintf("%#v", *p),
		"String": p.String(),
		"slog":   logBuf.String(),
		"json":   string(js),
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(out, tok) || strings.Contains(out, strings.Split(tok, ".")[2]) {
				t.Errorf("output contains the token: %s", out)
			}
			if !strings.Contains(out, "user-1") {
				t.Errorf("output lacks the subject: %s", out)
			}
		})
	}
}

func TestNewAuthenticatorRejectsBadConfig(t *testing.T) {
	good := authn.ProviderConfig{Issuer: "https://idp.example.test", Audiences: []string{testAudience}}
	tests := []struct {
		name string
		mod  func(*authn.ProviderConfig)
		opts authn.Options
		want string
	}{
		{"HS256 in the allow-list", func(p *authn.ProviderConfig) { p.Algorithms = []string{"HS256"} }, authn.Options{}, "HS256"},
		{"none in the allow-list", func(p *authn.ProviderConfig) { p.Algorithms = []string{"none"} }, authn.Options{}, "none"},
		{"no audience", func(p *authn.ProviderConfig) { p.Audiences = nil }, authn.Options{}, "audiences"},
		{"relative issuer", func(p *authn.ProviderConfig) { p.Issuer = "idp" }, authn.Options{}, "issuer"},
		{"bad jwks uri", func(p *authn.ProviderConfig) { p.JWKSURI = "ftp://x" }, authn.Options{}, "jwksURI"},
		{"CA bundle without certificates", func(p *authn.ProviderConfig) { p.CABundlePEM = []byte("nope") }, authn.Options{}, "caBundle"},
		{"huge skew", func(*authn.ProviderConfig) {}, authn.Options{ClockSkew: time.Hour}, "clock skew"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := good
			tt.mod(&pc)
			_, err := authn.NewAuthenticator(context.Background(), []authn.ProviderConfig{pc}, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	t.Run("duplicate issuer", func(t *testing.T) {
		_, err := authn.NewAuthenticator(context.Background(), []authn.ProviderConfig{good, good}, authn.Options{})
		if err == nil || !strings.Contains(err.Error(), "twice") {
			t.Fatalf("err = %v", err)
		}
	})
}
