package ir

import (
	"encoding/json"
	"fmt"
	"time"
)

// APIVersion is the only configuration version this package understands.
const APIVersion = "toolmesh.io/gateway-config/v1alpha1"

// Config is one complete gateway configuration; the controller writes it and the gateway loads it.
type Config struct {
	// APIVersion must equal APIVersion.
	APIVersion string `json:"apiVersion"`
	// Revision is an opaque label of this configuration (for example a hash), reported in metrics.
	Revision string `json:"revision,omitempty"`
	// Listeners are the addresses the gateway serves routes on.
	Listeners []Listener `json:"listeners"`
	// Authentication configures the OIDC issuers trusted by every route.
	Authentication Authentication `json:"authentication"`
	// Authorization holds Cedar policies that apply to every route.
	Authorization Authorization `json:"authorization,omitempty"`
	// Session configures the sealing of client-facing session ids.
	Session Session `json:"session,omitempty"`
	// AllowedOrigins lists the browser origins accepted on every route; "*" accepts any.
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`
	// Routes are the MCP endpoints the gateway exposes.
	Routes []Route `json:"routes"`
}

// Listener is one address the gateway listens on.
type Listener struct {
	// Name identifies the listener; routes refer to it.
	Name string `json:"name"`
	// Address is a host:port to listen on.
	Address string `json:"address"`
}

// AnonymousMode says whether callers without a token are accepted.
type AnonymousMode string

const (
	// AnonymousDeny refuses callers without a token.
	AnonymousDeny AnonymousMode = "Deny"
	// AnonymousAllow accepts callers without a token as an anonymous principal.
	AnonymousAllow AnonymousMode = "Allow"
)

// Authentication lists the trusted token issuers.
type Authentication struct {
	// OIDC lists the trusted OpenID Connect issuers.
	OIDC []OIDCProvider `json:"oidc,omitempty"`
	// Anonymous must be Allow when there is no provider; it is the default for routes that do not require authentication.
	Anonymous AnonymousMode `json:"anonymous,omitempty"`
}

// OIDCProvider is one trusted issuer of JWT bearer tokens.
type OIDCProvider struct {
	// Issuer is the issuer URL, matched exactly against the iss claim.
	Issuer string `json:"issuer"`
	// Audiences lists accepted aud values (RFC 8707 resource indicators); at least one is required.
	Audiences []string `json:"audiences"`
	// JWKSURI overrides the JWKS endpoint from discovery.
	JWKSURI string `json:"jwksURI,omitempty"`
	// CABundleFile is a PEM file of CAs trusted when talking to the issuer.
	CABundleFile string `json:"caBundleFile,omitempty"`
	// CABundlePEM is an inline PEM bundle of CAs trusted when talking to the issuer.
	CABundlePEM string `json:"caBundlePEM,omitempty"`
	// UsernameClaim names the claim used as the username (default sub).
	UsernameClaim string `json:"usernameClaim,omitempty"`
	// GroupsClaim names the claim holding group names (default groups).
	GroupsClaim string `json:"groupsClaim,omitempty"`
	// Algorithms is the signature algorithm allow-list (default RS256, ES256).
	Algorithms []string `json:"algorithms,omitempty"`
}

// AuthorizationMode says whether Cedar decisions are enforced or only audited.
type AuthorizationMode string

const (
	// AuthorizationEnforce denies what the policies do not permit.
	AuthorizationEnforce AuthorizationMode = "Enforce"
	// AuthorizationAudit logs and counts would-be denials but allows the call.
	AuthorizationAudit AuthorizationMode = "Audit"
)

// Authorization is a set of Cedar policies and how they are applied.
type Authorization struct {
	// Policies are Cedar policy texts.
	Policies []string `json:"policies,omitempty"`
	// Mode is Enforce (default) or Audit.
	Mode AuthorizationMode `json:"mode,omitempty"`
}

// Session configures sealed session ids.
type Session struct {
	// KeyFile holds the sealing key (at least 32 bytes, raw or base64), or several base64 keys one
	// per line: the first seals new sessions, the others still open existing ones (rotation).
	// Without it a random key is generated at start, which only works for a single replica.
	KeyFile string `json:"keyFile,omitempty"`
	// TTL is how long a session id stays valid (default 24h).
	TTL Duration `json:"ttl,omitempty"`
}

// Route is one MCP endpoint: a path served by one or more backends.
type Route struct {
	// Name identifies the route in logs, metrics and authorization.
	Name string `json:"name"`
	// Listeners restricts the route to the named listeners; empty means all.
	Listeners []string `json:"listeners,omitempty"`
	// Path is the exact URL path of the endpoint, for example /mcp/gpu.
	Path string `json:"path"`
	// Hostnames restricts the route to these Host values; empty means any.
	Hostnames []string `json:"hostnames,omitempty"`
	// Backends serve the route; several backends form one virtual server.
	Backends []Backend `json:"backends"`
	// Authentication says whether the route requires a token.
	Authentication RouteAuthentication `json:"authentication,omitempty"`
	// Authorization holds route-scoped Cedar policies, evaluated together with the gateway's.
	Authorization Authorization `json:"authorization,omitempty"`
	// Policies are the per-route limits and behaviours.
	Policies RoutePolicies `json:"policies,omitempty"`
	// AllowedOrigins adds origins accepted on this route.
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`
}

// RouteAuthentication configures authentication on one route.
type RouteAuthentication struct {
	// Required says whether a valid token is needed; unset means required when the gateway has a provider.
	Required *bool `json:"required,omitempty"`
	// Audiences, when set, narrow the gateway's accepted audiences on this route: the token's aud
	// must contain one of them (typically the route's own resource URL, RFC 8707), so a token
	// minted for another route of the same gateway is refused here.
	Audiences []string `json:"audiences,omitempty"`
}

// Transport is how the gateway talks to a backend.
type Transport string

const (
	// TransportStreamableHTTP is the MCP streamable HTTP transport.
	TransportStreamableHTTP Transport = "streamable-http"
	// TransportSSE is the legacy MCP HTTP+SSE transport.
	TransportSSE Transport = "sse"
)

// SessionMode says whether a backend keeps state per MCP session.
type SessionMode string

const (
	// SessionStateful pins each client session to one endpoint of the backend.
	SessionStateful SessionMode = "Stateful"
	// SessionStateless lets every request go through the backend's URL (its Service).
	SessionStateless SessionMode = "Stateless"
)

// Backend is one MCP server behind a route.
type Backend struct {
	// Name identifies the backend within its route.
	Name string `json:"name"`
	// URL is the backend's MCP endpoint (for example the in-cluster Service URL).
	URL string `json:"url"`
	// Transport is streamable-http (default) or sse.
	Transport Transport `json:"transport,omitempty"`
	// SessionMode is Stateful (default: the backend keeps per-session state, so a client session is
	// pinned to one of Endpoints) or Stateless (every request may go to URL).
	SessionMode SessionMode `json:"sessionMode,omitempty"`
	// Endpoints are the MCP URLs of the backend's pods (same path as URL); stateful sessions are pinned to one of them.
	Endpoints []string `json:"endpoints,omitempty"`
	// Host is sent as the Host header to the backend; default is the URL's host.
	Host string `json:"host,omitempty"`
	// ToolPrefix is prepended to each exposed tool and prompt name.
	ToolPrefix string `json:"toolPrefix,omitempty"`
	// Tools filters which tools are exposed.
	Tools ToolFilter `json:"tools,omitempty"`
}

// ToolFilter selects tools by glob (path.Match syntax) on the backend's own names.
type ToolFilter struct {
	// Include lists globs of tools to expose; empty means all.
	Include []string `json:"include,omitempty"`
	// Exclude lists globs of tools to hide; it wins over Include.
	Exclude []string `json:"exclude,omitempty"`
}

// RoutePolicies are the limits and behaviours applied to calls on a route.
type RoutePolicies struct {
	// RateLimit limits calls per principal and per tool.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
	// Timeouts bound backend calls.
	Timeouts Timeouts `json:"timeouts,omitempty"`
	// Limits cap request sizes and concurrency.
	Limits Limits `json:"limits,omitempty"`
	// BackendAuth says what credential the gateway presents to the backends.
	BackendAuth BackendAuth `json:"backendAuth,omitempty"`
	// Confirmation asks the user, through MCP elicitation, before destructive calls.
	Confirmation *Confirmation `json:"confirmation,omitempty"`
}

// RateLimit is a token bucket per principal and tool.
type RateLimit struct {
	// Requests is the number of calls allowed per Interval.
	Requests int `json:"requests"`
	// Interval is the refill period (default 1s).
	Interval Duration `json:"interval,omitempty"`
	// Burst is the bucket size (default Requests).
	Burst int `json:"burst,omitempty"`
	// PerTool overrides the limit for single exposed tool names.
	PerTool map[string]RateLimitRule `json:"perTool,omitempty"`
	// MaxKeys bounds the number of tracked principal+tool buckets (default 100000).
	MaxKeys int `json:"maxKeys,omitempty"`
	// IdleTimeout evicts buckets unused for this long (default 10m).
	IdleTimeout Duration `json:"idleTimeout,omitempty"`
}

// RateLimitRule is one per-tool override of a rate limit.
type RateLimitRule struct {
	// Requests is the number of calls allowed per Interval.
	Requests int `json:"requests"`
	// Interval is the refill period (default 1s).
	Interval Duration `json:"interval,omitempty"`
	// Burst is the bucket size (default Requests).
	Burst int `json:"burst,omitempty"`
}

// Timeouts bound how long a backend call may take.
type Timeouts struct {
	// Request is the default timeout of one call (default 60s).
	Request Duration `json:"request,omitempty"`
	// PerTool overrides the timeout for exposed tool names.
	PerTool map[string]Duration `json:"perTool,omitempty"`
	// Fanout bounds how long initialize, discovery and list calls of a multi-backend route wait
	// for each backend (default 10s, at most Request); a slower backend is left out of the answer.
	Fanout Duration `json:"fanout,omitempty"`
}

// Limits cap what one request may cost.
type Limits struct {
	// MaxRequestBytes caps the request body (default 1 MiB).
	MaxRequestBytes int64 `json:"maxRequestBytes,omitempty"`
	// MaxJSONDepth caps JSON nesting of the request body (default 64).
	MaxJSONDepth int `json:"maxJSONDepth,omitempty"`
	// MaxConcurrentCalls caps calls in flight on the route; 0 means unlimited.
	MaxConcurrentCalls int `json:"maxConcurrentCalls,omitempty"`
}

// BackendAuthType is the kind of credential presented to backends.
type BackendAuthType string

const (
	// BackendAuthNone sends no credential.
	BackendAuthNone BackendAuthType = "None"
	// BackendAuthPassthrough forwards the caller's own bearer token.
	BackendAuthPassthrough BackendAuthType = "Passthrough"
	// BackendAuthSecretHeader sends a header whose value is read from a file.
	BackendAuthSecretHeader BackendAuthType = "SecretHeader"
	// BackendAuthServiceAccountToken sends a projected ServiceAccount token read from a file as a bearer.
	BackendAuthServiceAccountToken BackendAuthType = "ServiceAccountToken"
)

// BackendAuth is the credential the gateway presents to a route's backends.
type BackendAuth struct {
	// Type is None (default), Passthrough, SecretHeader or ServiceAccountToken.
	Type BackendAuthType `json:"type,omitempty"`
	// Header is the header name for SecretHeader (default Authorization).
	Header string `json:"header,omitempty"`
	// File holds the header value (SecretHeader) or the token (ServiceAccountToken); it is re-read when it changes.
	File string `json:"file,omitempty"`
}

// Confirmation asks a human to confirm destructive tool calls through MCP elicitation.
type Confirmation struct {
	// Destructive asks for every tool annotated destructiveHint.
	Destructive bool `json:"destructive,omitempty"`
	// Tools lists exposed tool names that always need confirmation.
	Tools []string `json:"tools,omitempty"`
	// Timeout bounds how long the gateway waits for the answer (default 2m).
	Timeout Duration `json:"timeout,omitempty"`
}

// Duration is a time.Duration written as a Go duration string such as "30s".
type Duration struct {
	time.Duration
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// UnmarshalJSON reads a duration string such as "1m30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"30s\": %w", err)
	}
	if s == "" {
		d.Duration = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("parse duration %q: %w", s, err)
	}
	d.Duration = v
	return nil
}

// AuthenticationRequired reports whether the route needs a token under the given gateway authentication.
func (r *Route) AuthenticationRequired(a Authentication) bool {
	if r.Authentication.Required != nil {
		return *r.Authentication.Required
	}
	if len(a.OIDC) == 0 {
		return false
	}
	return a.Anonymous != AnonymousAllow
}
