package ir

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
	"time"
)

// FieldError is one invalid field, named by its path in the configuration.
type FieldError struct {
	// Field is the path of the field, for example routes[0].backends[1].url.
	Field string
	// Message says what is wrong.
	Message string
}

// Error returns "field: message".
func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

type errs struct{ list []error }

func (e *errs) add(field, format string, args ...any) {
	e.list = append(e.list, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Validate checks the whole configuration and returns every problem found, each a *FieldError.
func (c *Config) Validate() error {
	e := &errs{}
	if c.APIVersion != APIVersion {
		e.add("apiVersion", "must be %q, got %q", APIVersion, c.APIVersion)
	}
	listeners := validateListeners(e, c.Listeners)
	validateAuthentication(e, "authentication", c.Authentication)
	validateAuthorization(e, "authorization", c.Authorization)
	if c.Session.TTL.Duration < 0 {
		e.add("session.ttl", "must not be negative")
	}
	validateOrigins(e, "allowedOrigins", c.AllowedOrigins)
	if len(c.Routes) == 0 {
		e.add("routes", "at least one route is required")
	}
	names := map[string]int{}
	paths := map[string]int{}
	for i := range c.Routes {
		r := &c.Routes[i]
		f := fmt.Sprintf("routes[%d]", i)
		if j, dup := names[r.Name]; dup && r.Name != "" {
			e.add(f+".name", "duplicate route name %q (also routes[%d])", r.Name, j)
		}
		names[r.Name] = i
		key := r.Path + " " + strings.Join(r.Hostnames, ",")
		if j, dup := paths[key]; dup && r.Path != "" {
			e.add(f+".path", "duplicate path %q for the same hostnames (also routes[%d])", r.Path, j)
		}
		paths[key] = i
		validateRoute(e, f, r, listeners)
	}
	return errors.Join(e.list...)
}

func validateListeners(e *errs, ls []Listener) map[string]bool {
	names := map[string]bool{}
	if len(ls) == 0 {
		e.add("listeners", "at least one listener is required")
	}
	for i, l := range ls {
		f := fmt.Sprintf("listeners[%d]", i)
		if !isName(l.Name) {
			e.add(f+".name", "must be a DNS label, got %q", l.Name)
		}
		if names[l.Name] {
			e.add(f+".name", "duplicate listener name %q", l.Name)
		}
		names[l.Name] = true
		if _, _, err := net.SplitHostPort(l.Address); err != nil {
			e.add(f+".address", "must be host:port, got %q", l.Address)
		}
	}
	return names
}

func validateAuthentication(e *errs, f string, a Authentication) {
	switch a.Anonymous {
	case "", AnonymousDeny, AnonymousAllow:
	default:
		e.add(f+".anonymous", "must be Deny or Allow, got %q", a.Anonymous)
	}
	if len(a.OIDC) == 0 && a.Anonymous != AnonymousAllow {
		e.add(f+".anonymous", "must be Allow when no oidc provider is configured (there is no silent open default)")
	}
	seen := map[string]bool{}
	for i, p := range a.OIDC {
		pf := fmt.Sprintf("%s.oidc[%d]", f, i)
		if seen[p.Issuer] {
			e.add(pf+".issuer", "duplicate issuer %q", p.Issuer)
		}
		seen[p.Issuer] = true
		validateProvider(e, pf, p)
	}
}

func validateProvider(e *errs, pf string, p OIDCProvider) {
	if err := checkURL(p.Issuer, true); err != nil {
		e.add(pf+".issuer", "%v", err)
	}
	if len(p.Audiences) == 0 {
		e.add(pf+".audiences", "at least one audience is required")
	}
	for j, aud := range p.Audiences {
		if aud == "" {
			e.add(fmt.Sprintf("%s.audiences[%d]", pf, j), "must not be empty")
		}
	}
	if p.JWKSURI != "" {
		if err := checkURL(p.JWKSURI, true); err != nil {
			e.add(pf+".jwksURI", "%v", err)
		}
	}
	if p.CABundleFile != "" && p.CABundlePEM != "" {
		e.add(pf+".caBundlePEM", "set at most one of caBundleFile and caBundlePEM")
	}
	for j, alg := range p.Algorithms {
		if !validAlgorithms[alg] {
			e.add(fmt.Sprintf("%s.algorithms[%d]", pf, j), "unsupported algorithm %q", alg)
		}
	}
}

var validAlgorithms = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true, "ES256": true, "ES384": true, "ES512": true,
	"PS256": true, "PS384": true, "PS512": true, "EdDSA": true,
}

func validateAuthorization(e *errs, f string, a Authorization) {
	switch a.Mode {
	case "", AuthorizationEnforce, AuthorizationAudit:
	default:
		e.add(f+".mode", "must be Enforce or Audit, got %q", a.Mode)
	}
	for i, p := range a.Policies {
		if strings.TrimSpace(p) == "" {
			e.add(fmt.Sprintf("%s.policies[%d]", f, i), "must not be empty")
		}
	}
}

func validateOrigins(e *errs, f string, origins []string) {
	for i, o := range origins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			e.add(fmt.Sprintf("%s[%d]", f, i), "must be an origin such as https://app.example.com, got %q", o)
		}
	}
}

func validateRoute(e *errs, f string, r *Route, listeners map[string]bool) {
	if !isName(r.Name) {
		e.add(f+".name", "must be a DNS label, got %q", r.Name)
	}
	if err := checkPath(r.Path); err != nil {
		e.add(f+".path", "%v", err)
	}
	for i, l := range r.Listeners {
		if !listeners[l] {
			e.add(fmt.Sprintf("%s.listeners[%d]", f, i), "unknown listener %q", l)
		}
	}
	for i, h := range r.Hostnames {
		if h == "" || strings.ContainsAny(h, "/: ") {
			e.add(fmt.Sprintf("%s.hostnames[%d]", f, i), "must be a host name without port, got %q", h)
		}
	}
	validateOrigins(e, f+".allowedOrigins", r.AllowedOrigins)
	for i, a := range r.Authentication.Audiences {
		if strings.TrimSpace(a) == "" {
			e.add(fmt.Sprintf("%s.authentication.audiences[%d]", f, i), "must not be empty")
		}
	}
	validateAuthorization(e, f+".authorization", r.Authorization)
	if len(r.Backends) == 0 {
		e.add(f+".backends", "at least one backend is required")
	}
	names := map[string]bool{}
	for i := range r.Backends {
		b := &r.Backends[i]
		bf := fmt.Sprintf("%s.backends[%d]", f, i)
		if names[b.Name] {
			e.add(bf+".name", "duplicate backend name %q", b.Name)
		}
		names[b.Name] = true
		validateBackend(e, bf, b)
	}
	validatePolicies(e, f+".policies", &r.Policies)
}

func validateBackend(e *errs, f string, b *Backend) {
	if !isName(b.Name) {
		e.add(f+".name", "must be a DNS label, got %q", b.Name)
	}
	if err := checkURL(b.URL, false); err != nil {
		e.add(f+".url", "%v", err)
	}
	switch b.Transport {
	case "", TransportStreamableHTTP, TransportSSE:
	default:
		e.add(f+".transport", "must be streamable-http or sse, got %q", b.Transport)
	}
	switch b.SessionMode {
	case "", SessionStateful, SessionStateless:
	default:
		e.add(f+".sessionMode", "must be Stateful or Stateless, got %q", b.SessionMode)
	}
	for i, ep := range b.Endpoints {
		if err := checkURL(ep, false); err != nil {
			e.add(fmt.Sprintf("%s.endpoints[%d]", f, i), "%v", err)
		}
	}
	if strings.ContainsAny(b.ToolPrefix, " /\t\n") || len(b.ToolPrefix) > 64 {
		e.add(f+".toolPrefix", "must be at most 64 characters without spaces or slashes, got %q", b.ToolPrefix)
	}
	for i, g := range b.Tools.Include {
		if _, err := path.Match(g, ""); err != nil {
			e.add(fmt.Sprintf("%s.tools.include[%d]", f, i), "invalid glob %q", g)
		}
	}
	for i, g := range b.Tools.Exclude {
		if _, err := path.Match(g, ""); err != nil {
			e.add(fmt.Sprintf("%s.tools.exclude[%d]", f, i), "invalid glob %q", g)
		}
	}
}

func validatePolicies(e *errs, f string, p *RoutePolicies) {
	if rl := p.RateLimit; rl != nil {
		validateRate(e, f+".rateLimit", rl.Requests, rl.Burst, rl.Interval.Duration)
		if rl.MaxKeys < 0 {
			e.add(f+".rateLimit.maxKeys", "must not be negative")
		}
		if rl.IdleTimeout.Duration < 0 {
			e.add(f+".rateLimit.idleTimeout", "must not be negative")
		}
		for name, r := range rl.PerTool {
			validateRate(e, fmt.Sprintf("%s.rateLimit.perTool[%s]", f, name), r.Requests, r.Burst, r.Interval.Duration)
		}
	}
	if p.Timeouts.Request.Duration < 0 {
		e.add(f+".timeouts.request", "must not be negative")
	}
	if p.Timeouts.Fanout.Duration < 0 {
		e.add(f+".timeouts.fanout", "must not be negative")
	}
	for name, d := range p.Timeouts.PerTool {
		if d.Duration <= 0 {
			e.add(fmt.Sprintf("%s.timeouts.perTool[%s]", f, name), "must be positive")
		}
	}
	if p.Limits.MaxRequestBytes < 0 {
		e.add(f+".limits.maxRequestBytes", "must not be negative")
	}
	if p.Limits.MaxJSONDepth < 0 || p.Limits.MaxJSONDepth > 1000 {
		e.add(f+".limits.maxJSONDepth", "must be between 0 and 1000")
	}
	if p.Limits.MaxConcurrentCalls < 0 {
		e.add(f+".limits.maxConcurrentCalls", "must not be negative")
	}
	validateBackendAuth(e, f+".backendAuth", p.BackendAuth)
	if c := p.Confirmation; c != nil && c.Timeout.Duration < 0 {
		e.add(f+".confirmation.timeout", "must not be negative")
	}
}

func validateRate(e *errs, f string, requests, burst int, interval time.Duration) {
	if requests <= 0 {
		e.add(f+".requests", "must be positive")
	}
	if burst < 0 {
		e.add(f+".burst", "must not be negative")
	}
	if interval < 0 {
		e.add(f+".interval", "must not be negative")
	}
}

func validateBackendAuth(e *errs, f string, a BackendAuth) {
	switch a.Type {
	case "", BackendAuthNone, BackendAuthPassthrough:
		if a.File != "" {
			e.add(f+".file", "only valid with SecretHeader or ServiceAccountToken")
		}
	case BackendAuthSecretHeader, BackendAuthServiceAccountToken:
		if a.File == "" {
			e.add(f+".file", "required for %s", a.Type)
		}
	default:
		e.add(f+".type", "must be None, Passthrough, SecretHeader or ServiceAccountToken, got %q", a.Type)
	}
	if a.Header != "" && a.Type != BackendAuthSecretHeader {
		e.add(f+".header", "only valid with SecretHeader")
	}
}

func isName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(s)-1
		if !ok {
			return false
		}
	}
	return true
}

func checkURL(s string, requireHTTPS bool) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invalid URL %q", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("must be an absolute http(s) URL, got %q", s)
	}
	if requireHTTPS && u.Scheme != "https" && !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("must use https (plain http only for loopback), got %q", s)
	}
	if u.User != nil {
		return fmt.Errorf("must not carry credentials, got %q", u.Redacted())
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func checkPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("must start with /, got %q", p)
	}
	if path.Clean(p) != p || strings.ContainsAny(p, "%?#\\ ") {
		return fmt.Errorf("must be a clean path without dot segments, escapes, query or trailing slash, got %q", p)
	}
	if p == "/" || strings.HasPrefix(p, "/.well-known/") || p == "/healthz" || p == "/readyz" {
		return fmt.Errorf("path %q is reserved", p)
	}
	return nil
}
