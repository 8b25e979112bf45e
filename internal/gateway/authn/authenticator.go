package authn

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// Defaults applied by NewAuthenticator to zero Options fields.
const (
	// DefaultClockSkew is the tolerance applied to exp, nbf and iat.
	DefaultClockSkew = 30 * time.Second
	// MaxClockSkew is the largest accepted ClockSkew.
	MaxClockSkew = 5 * time.Minute
	// DefaultCacheSize is the number of verified tokens kept.
	DefaultCacheSize = 10000
	// DefaultJWKSRefetchInterval is the minimum time between two key set fetches of one issuer.
	DefaultJWKSRefetchInterval = 30 * time.Second
	// DefaultMaxTokenBytes bounds the size of an accepted bearer token.
	DefaultMaxTokenBytes = 16 << 10
	// DefaultUsernameClaim is the claim read into Principal.Username.
	DefaultUsernameClaim = "sub"
	// DefaultGroupsClaim is the claim read into Principal.Groups.
	DefaultGroupsClaim = "groups"
)

// DefaultAlgorithms is the signing algorithm allow-list used when a provider names none.
var DefaultAlgorithms = []string{"RS256", "ES256"}

// allowedAlgorithms are the asymmetric algorithms a provider may list. "none" and
// the HMAC algorithms are never accepted: a public key must not double as a shared secret.
var allowedAlgorithms = []string{
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
}

// ProviderConfig configures one trusted token issuer.
type ProviderConfig struct {
	// Issuer is the exact "iss" value of the provider's tokens, an https (or loopback http) URL.
	Issuer string
	// Audiences lists the accepted "aud" values (RFC 8707 resource indicators); at least one is required.
	Audiences []string
	// JWKSURI overrides discovery: keys are fetched from it directly.
	JWKSURI string
	// CABundlePEM, when set, is the only set of roots trusted for the provider's TLS connections.
	CABundlePEM []byte
	// UsernameClaim names the claim read into Principal.Username; "sub" when empty.
	UsernameClaim string
	// GroupsClaim names the claim read into Principal.Groups; "groups" when empty.
	GroupsClaim string
	// Algorithms is the signing algorithm allow-list; DefaultAlgorithms when empty.
	Algorithms []string
	// KeysBearerTokenFile, when set, names a file whose content is sent as a
	// bearer token to the discovery and JWKS endpoints, read afresh at each fetch.
	// Kubernetes API servers serve their ServiceAccount issuer keys only to
	// authenticated callers: point it at the gateway's projected token.
	KeysBearerTokenFile string
}

// Options tunes an Authenticator. The zero value is usable.
type Options struct {
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// ClockSkew is the tolerance for exp, nbf and iat; DefaultClockSkew when zero.
	ClockSkew time.Duration
	// CacheSize bounds the verified-token cache; DefaultCacheSize when zero, no cache when negative.
	CacheSize int
	// JWKSRefetchInterval is the minimum time between two key set fetches of one
	// issuer, however many unknown key ids arrive; DefaultJWKSRefetchInterval when zero.
	JWKSRefetchInterval time.Duration
	// HTTPClient fetches discovery documents and keys; a client with a 10 second timeout when nil.
	HTTPClient *http.Client
	// MaxTokenBytes bounds the bearer token length; DefaultMaxTokenBytes when zero.
	MaxTokenBytes int
}

// Authenticator verifies bearer tokens against a fixed set of providers. It is safe for concurrent use.
type Authenticator struct {
	now       func() time.Time
	skew      time.Duration
	maxToken  int
	cache     *tokenCache
	providers map[string]*provider
}

// provider is one configured issuer.
type provider struct {
	issuer    string
	audiences []string
	userClaim string
	grpClaim  string
	algs      []string
	keys      *keySet
	verifier  *oidc.IDTokenVerifier
}

// NewAuthenticator validates the provider configuration and returns an
// Authenticator. It performs no I/O: discovery and key fetches happen on the
// first token of each issuer, so an unreachable issuer does not block a config load.
func NewAuthenticator(_ context.Context, providers []ProviderConfig, opts Options) (*Authenticator, error) {
	opts, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	a := &Authenticator{
		now:       opts.Now,
		skew:      opts.ClockSkew,
		maxToken:  opts.MaxTokenBytes,
		cache:     newTokenCache(max(opts.CacheSize, 0)),
		providers: make(map[string]*provider, len(providers)),
	}
	for i, pc := range providers {
		p, err := newProvider(pc, opts)
		if err != nil {
			return nil, fmt.Errorf("provider %d (%s): %w", i, pc.Issuer, err)
		}
		if _, dup := a.providers[p.issuer]; dup {
			return nil, fmt.Errorf("provider %d: issuer %s is configured twice", i, pc.Issuer)
		}
		a.providers[p.issuer] = p
	}
	return a, nil
}

// withDefaults fills zero options and rejects out-of-range ones.
func withDefaults(o Options) (Options, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.ClockSkew == 0:
		o.ClockSkew = DefaultClockSkew
	case o.ClockSkew < 0 || o.ClockSkew > MaxClockSkew:
		return o, fmt.Errorf("clock skew %s is outside [0, %s]", o.ClockSkew, MaxClockSkew)
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.JWKSRefetchInterval <= 0 {
		o.JWKSRefetchInterval = DefaultJWKSRefetchInterval
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.MaxTokenBytes <= 0 {
		o.MaxTokenBytes = DefaultMaxTokenBytes
	}
	return o, nil
}

// newProvider validates one provider and builds its key set and verifier.
func newProvider(pc ProviderConfig, opts Options) (*provider, error) {
	if err := validateURL("issuer", pc.Issuer); err != nil {
		return nil, err
	}
	if pc.JWKSURI != "" {
		if err := validateURL("jwksURI", pc.JWKSURI); err != nil {
			return nil, err
		}
	}
	if len(pc.Audiences) == 0 || slices.Contains(pc.Audiences, "") {
		return nil, errors.New("audiences: at least one non-empty audience is required")
	}
	algs := pc.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms
	}
	joseAlgs := make([]jose.SignatureAlgorithm, 0, len(algs))
	for _, alg := range algs {
		if !slices.Contains(allowedAlgorithms, alg) {
			return nil, fmt.Errorf("algorithms: %q is not an allowed asymmetric signing algorithm", alg)
		}
		joseAlgs = append(joseAlgs, jose.SignatureAlgorithm(alg))
	}
	client, err := providerClient(opts.HTTPClient, pc.CABundlePEM)
	if err != nil {
		return nil, err
	}
	ks := &keySet{
		issuer:      pc.Issuer,
		client:      client,
		algs:        joseAlgs,
		minInterval: opts.JWKSRefetchInterval,
		now:         opts.Now,
		jwksURI:     pc.JWKSURI,
		tokenFile:   pc.KeysBearerTokenFile,
	}
	p := &provider{
		issuer:    pc.Issuer,
		audiences: slices.Clone(pc.Audiences),
		userClaim: cmp.Or(pc.UsernameClaim, DefaultUsernameClaim),
		grpClaim:  cmp.Or(pc.GroupsClaim, DefaultGroupsClaim),
		algs:      slices.Clone(algs),
		keys:      ks,
	}
	p.verifier = oidc.NewVerifier(pc.Issuer, ks, &oidc.Config{
		SupportedSigningAlgs: p.algs,
		// Audience, exp and nbf are checked by Authenticate with several
		// audiences and a configurable skew.
		SkipClientIDCheck: true,
		SkipExpiryCheck:   true,
	})
	return p, nil
}

// validateURL requires an absolute http(s) URL with a host.
func validateURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%s: %q is not an absolute http(s) URL", field, raw)
	}
	return nil
}

// providerClient returns base, or a copy trusting only caPEM when it is set.
func providerClient(base *http.Client, caPEM []byte) (*http.Client, error) {
	if len(caPEM) == 0 {
		return base, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("caBundle: no PEM certificate found")
	}
	var tr *http.Transport
	if t, ok := base.Transport.(*http.Transport); ok {
		tr = t.Clone()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tr.TLSClientConfig.RootCAs = pool
	c := *base
	c.Transport = tr
	return &c, nil
}

// Authenticate verifies a raw bearer token (without the "Bearer " prefix) and
// returns its principal. Failures are *Error values whose text never includes the token.
func (a *Authenticator) Authenticate(ctx context.Context, bearer string) (*Principal, error) {
	if bearer == "" {
		return nil, fail(ReasonMissingToken, nil)
	}
	if len(bearer) > a.maxToken {
		return nil, fail(ReasonMalformedToken, errors.New("token too long"))
	}
	key := hashToken(bearer)
	now := a.now()
	if p, ok := a.cache.get(key, now); ok {
		return p, nil
	}
	p, err := a.verify(ctx, bearer, now)
	if err != nil {
		return nil, err
	}
	a.cache.put(key, p, p.Expires, now)
	return p, nil
}

// hashToken returns the SHA-256 digest of a token without copying it: Sum256
// neither modifies nor retains its input, so viewing the string's bytes is safe.
func hashToken(token string) tokenKey {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

// verify performs a full verification of a token that is not cached.
func (a *Authenticator) verify(ctx context.Context, bearer string, now time.Time) (*Principal, error) {
	hdr, iss, err := peek(bearer)
	if err != nil {
		return nil, fail(ReasonMalformedToken, err)
	}
	p, ok := a.providers[iss]
	if !ok {
		return nil, fail(ReasonUnknownIssuer, nil)
	}
	if !slices.Contains(p.algs, hdr.Alg) {
		return nil, fail(ReasonUnsupportedAlgorithm, nil)
	}
	if err := p.keys.ensure(ctx, hdr.Kid, hdr.Alg); err != nil {
		return nil, err
	}
	tok, err := p.verifier.Verify(ctx, bearer)
	if err != nil {
		return nil, fail(ReasonInvalidSignature, errors.New("signature or issuer check failed"))
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, fail(ReasonMalformedToken, fmt.Errorf("decode claims: %w", err))
	}
	if err := a.checkTime(tok, claims, now); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(tok.Audience, func(aud string) bool { return slices.Contains(p.audiences, aud) }) {
		return nil, fail(ReasonInvalidAudience, nil)
	}
	return p.principal(tok, claims, bearer)
}

// checkTime requires exp, and checks exp, nbf and iat against now with the skew.
func (a *Authenticator) checkTime(tok *oidc.IDToken, claims map[string]any, now time.Time) error {
	if tok.Expiry.IsZero() {
		return fail(ReasonInvalidClaims, errors.New("exp is missing"))
	}
	if !now.Before(tok.Expiry.Add(a.skew)) {
		return fail(ReasonExpired, nil)
	}
	latest := now.Add(a.skew)
	if nbf, ok := numericDate(claims["nbf"]); ok && latest.Before(nbf) {
		return fail(ReasonNotYetValid, nil)
	}
	if !tok.IssuedAt.IsZero() && latest.Before(tok.IssuedAt) {
		return fail(ReasonNotYetValid, nil)
	}
	return nil
}

// numericDate converts a JSON NumericDate claim.
func numericDate(v any) (time.Time, bool) {
	f, ok := v.(float64)
	if !ok {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true
}

// principal builds the principal of a verified token.
func (p *provider) principal(tok *oidc.IDToken, claims map[string]any, bearer string) (*Principal, error) {
	if tok.Subject == "" {
		return nil, fail(ReasonInvalidClaims, errors.New("sub is missing"))
	}
	username, ok := claims[p.userClaim].(string)
	if !ok || username == "" {
		return nil, fail(ReasonInvalidClaims, fmt.Errorf("username claim %q is missing or not a string", p.userClaim))
	}
	return &Principal{
		Subject:  tok.Subject,
		Issuer:   tok.Issuer,
		Username: username,
		Groups:   stringList(claims[p.grpClaim]),
		Claims:   claims,
		Token:    bearer,
		Audience: tok.Audience,
		Expires:  tok.Expiry,
		id:       principalID(tok.Issuer, tok.Subject),
	}, nil
}

// stringList reads a claim that is a string or an array of strings; other values are ignored.
func stringList(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	default:
		return nil
	}
}

// jwsHeader holds the header fields read before verification.
type jwsHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// peek decodes a compact JWS's header and the issuer of its payload without
// verifying anything. Only the issuer (to pick a provider) and alg/kid (to pick a
// key) are used before verification.
func peek(token string) (jwsHeader, string, error) {
	var h jwsHeader
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[2] == "" {
		return h, "", errors.New("want three dot-separated parts with a signature")
	}
	if err := decodeSegment(parts[0], &h); err != nil {
		return h, "", fmt.Errorf("header: %w", err)
	}
	var payload struct {
		Iss string `json:"iss"`
	}
	if err := decodeSegment(parts[1], &payload); err != nil {
		return h, "", fmt.Errorf("payload: %w", err)
	}
	return h, payload.Iss, nil
}

// decodeSegment decodes one base64url JSON segment.
func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return fmt.Errorf("decode base64url: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode json: %w", err)
	}
	return nil
}

// JWKSFetches returns the number of key set fetches made for issuer so far; it exists for tests and metrics.
func (a *Authenticator) JWKSFetches(issuer string) int64 {
	if p, ok := a.providers[issuer]; ok {
		return p.keys.fetches.Load()
	}
	return 0
}

// CachedTokens returns the number of entries in the verified-token cache.
func (a *Authenticator) CachedTokens() int {
	return a.cache.len()
}
