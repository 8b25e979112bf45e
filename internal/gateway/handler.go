package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/toolmesh/toolmesh/internal/gateway/authn"
)

// SupportedProtocolVersions are the MCP revisions the gateway speaks towards clients.
var SupportedProtocolVersions = []string{"2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"}

const wellKnownPrefix = "/.well-known/oauth-protected-resource"

// call is the state of one client request on one route.
type call struct {
	s         *Server
	rt        *runtime
	route     *route
	req       *http.Request
	caller    *caller
	msg       *message
	body      []byte
	version   string
	sess      *sessionState
	start     time.Time
	tool      string
	sseOK     bool
	decision  string
	finished  bool
	out       *sseWriter
	span      trace.Span
	eventID   string // id of the event carrying the final response, when the backend's stream is resumable
	confirmed string // binding of a call the user confirmed on the stateless revision
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, listener string) {
	rt := s.current.Load()
	if rt == nil {
		http.Error(w, "gateway has no configuration yet", http.StatusServiceUnavailable)
		return
	}
	p := r.URL.Path
	if r.URL.RawPath != "" || p == "" || path.Clean(p) != p || strings.Contains(p, "\\") {
		http.Error(w, "request path must be canonical (no dot segments, encoded slashes or trailing slash)", http.StatusBadRequest)
		return
	}
	if strings.HasPrefix(p, wellKnownPrefix) {
		s.serveMetadata(w, r, rt, listener, strings.TrimPrefix(p, wellKnownPrefix))
		return
	}
	rte := rt.match(listener, r.Host, p)
	legacy := false
	if rte == nil && strings.HasSuffix(p, legacySuffix) {
		rte, legacy = rt.match(listener, r.Host, strings.TrimSuffix(p, legacySuffix)), true
	}
	if rte == nil {
		http.NotFound(w, r)
		return
	}
	r, span := s.startSpan(r, rte.name)
	if span != nil {
		defer span.End()
	}
	c := &call{s: s, rt: rt, route: rte, req: r, start: time.Now(), span: span}
	if legacy {
		c.serveLegacyChecked(w, listener)
		return
	}
	c.serve(w)
}

// serveLegacyChecked applies the route's Host, Origin and authentication checks to a request on
// the legacy HTTP+SSE endpoint.
func (c *call) serveLegacyChecked(w http.ResponseWriter, listener string) {
	if (c.route.hostnames == nil && rebinding(c.req)) || !c.originAllowed(c.req.Header.Get("Origin")) {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	if !c.authenticate(w) {
		return
	}
	c.serveLegacy(w, listener)
}

func (c *call) serve(w http.ResponseWriter) {
	r := c.req
	if c.route.hostnames == nil && rebinding(r) {
		c.s.metrics.rejected.WithLabelValues(c.route.name, "host").Inc()
		http.Error(w, "Forbidden: a loopback listener only answers loopback Host names", http.StatusForbidden)
		return
	}
	if !c.originAllowed(r.Header.Get("Origin")) {
		c.s.metrics.rejected.WithLabelValues(c.route.name, "origin").Inc()
		http.Error(w, "Forbidden: origin not allowed", http.StatusForbidden)
		return
	}
	c.version = r.Header.Get(headerProtocolVersion)
	if c.version != "" && !slices.Contains(SupportedProtocolVersions, c.version) {
		c.s.metrics.rejected.WithLabelValues(c.route.name, "protocol_version").Inc()
		http.Error(w, "Bad Request: unsupported MCP-Protocol-Version (supported: "+strings.Join(SupportedProtocolVersions, ", ")+")", http.StatusBadRequest)
		return
	}
	switch r.Method {
	case http.MethodPost, http.MethodGet, http.MethodDelete:
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if !c.authenticate(w) {
		return
	}
	switch r.Method {
	case http.MethodPost:
		c.servePost(w)
	case http.MethodGet:
		c.serveGet(w)
	default:
		c.serveDelete(w)
	}
}

// originAllowed accepts requests without Origin, configured origins, and loopback origins on a
// loopback Host (local development).
func (c *call) originAllowed(origin string) bool {
	if origin == "" || c.route.anyOrigin || c.route.origins[strings.ToLower(strings.TrimSuffix(origin, "/"))] {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && isLoopbackName(u.Hostname()) && isLoopbackName(hostOnly(c.req.Host))
}

// rebinding reports a request that reached a loopback listener under a non-loopback Host name:
// the signature of a DNS rebinding attack.
func rebinding(r *http.Request) bool {
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || la == nil {
		return false
	}
	host, _, err := net.SplitHostPort(la.String())
	return err == nil && isLoopbackName(host) && !isLoopbackName(hostOnly(r.Host))
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

func isLoopbackName(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// authenticate sets c.caller or answers 401/503 and returns false.
func (c *call) authenticate(w http.ResponseWriter) bool {
	bearer, hasBearer := bearerToken(c.req)
	if !hasBearer && !c.route.authRequired {
		c.caller = anonymousCaller()
		return true
	}
	if c.rt.auth == nil {
		if !c.route.authRequired {
			c.caller = anonymousCaller()
			return true
		}
		c.unauthorized(w, http.StatusUnauthorized, "", "")
		return false
	}
	cl, err := c.rt.auth.authenticate(c.req.Context(), bearer)
	if err != nil {
		status, code, desc := http.StatusUnauthorized, "invalid_token", "the token is invalid"
		var af authFailure
		if errors.As(err, &af) {
			status, code, desc = af.HTTPStatus(), af.Code(), af.Description()
		}
		c.s.metrics.authn.WithLabelValues(c.route.name, reasonLabel(err)).Inc()
		c.auditRejection("unauthenticated: " + reasonLabel(err))
		c.unauthorized(w, status, code, desc)
		return false
	}
	if !c.route.acceptsAudience(cl) {
		c.s.metrics.authn.WithLabelValues(c.route.name, string(authn.ReasonInvalidAudience)).Inc()
		c.auditRejection("unauthenticated: " + string(authn.ReasonInvalidAudience))
		c.unauthorized(w, http.StatusUnauthorized, "invalid_token", "the token is not intended for this resource")
		return false
	}
	c.caller = cl
	return true
}

// acceptsAudience reports whether an authenticated caller's token was issued for this route.
func (r *route) acceptsAudience(cl *caller) bool {
	auds := r.cfg.Authentication.Audiences
	if len(auds) == 0 {
		return true
	}
	p, ok := cl.native.(*authn.Principal)
	if !ok {
		return false
	}
	for _, a := range auds {
		if p.HasAudience(a) {
			return true
		}
	}
	return false
}

// authFailure is implemented by authentication errors that know how to be reported.
type authFailure interface {
	HTTPStatus() int
	Code() string
	Description() string
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", true
	}
	return strings.TrimSpace(tok), true
}

func (c *call) unauthorized(w http.ResponseWriter, status int, code, desc string) {
	v := fmt.Sprintf(`Bearer resource_metadata=%q`, metadataURL(c.req, c.route.cfg.Path))
	if code != "" {
		v += fmt.Sprintf(`, error=%q, error_description=%q`, code, desc)
	}
	w.Header().Set("WWW-Authenticate", v)
	http.Error(w, http.StatusText(status), status)
}

// servePost handles one JSON-RPC message.
func (c *call) servePost(w http.ResponseWriter) {
	r := c.req
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	lim := c.route.cfg.Policies.Limits
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, lim.MaxRequestBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			c.reject(w, http.StatusRequestEntityTooLarge, nil, CodeInvalidRequest, fmt.Sprintf("request body exceeds %d bytes", lim.MaxRequestBytes), "body_size")
			return
		}
		http.Error(w, "failed to read body", http.StatusBadRequest)
		return
	}
	if err := checkDepth(body, lim.MaxJSONDepth); err != nil {
		c.reject(w, http.StatusBadRequest, nil, CodeInvalidRequest, err.Error(), "json_depth")
		return
	}
	m, err := parseMessage(body)
	if err != nil {
		code := int64(CodeInvalidRequest)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			code = CodeParseError
		}
		c.reject(w, http.StatusBadRequest, nil, code, err.Error(), "invalid_jsonrpc")
		return
	}
	if err := checkDuplicateKeys(body); err != nil {
		c.reject(w, http.StatusBadRequest, m.ID, CodeInvalidRequest, err.Error(), "duplicate_key")
		return
	}
	c.msg, c.body = m, body
	if err := c.checkHeaders(); err != nil {
		c.reject(w, http.StatusBadRequest, m.ID, CodeHeaderMismatch, err.Error(), "header_mismatch")
		return
	}
	c.sseOK = acceptsSSE(r)
	if !c.openSession(w) {
		return
	}
	switch {
	case m.isResponse():
		c.forwardResponse(w)
	case m.isNotification():
		c.forwardNotification(w)
	default:
		c.dispatch(w)
	}
}

func (c *call) reject(w http.ResponseWriter, status int, id json.RawMessage, code int64, msg, reason string) {
	c.s.metrics.rejected.WithLabelValues(c.route.name, reason).Inc()
	writeRPCError(w, status, id, code, msg, nil)
	c.auditRejection(reason)
}

func acceptsSSE(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
			if mt == "text/event-stream" || mt == "*/*" {
				return true
			}
		}
	}
	return false
}

// checkHeaders verifies Mcp-Method and Mcp-Name against the body. They are required from the
// stateless revision on, and checked whenever a client sends them.
func (c *call) checkHeaders() error {
	m := c.msg
	hm := c.req.Header.Get(headerMethod)
	required := c.version >= stateless && m.isRequest()
	if hm == "" && required {
		return errors.New("missing required Mcp-Method header")
	}
	if hm != "" && m.Method != "" && hm != m.Method {
		return fmt.Errorf("header mismatch: Mcp-Method %q does not match body method %q", hm, m.Method)
	}
	switch m.Method {
	case "tools/call", "prompts/get", "resources/read":
	default:
		return nil
	}
	hn := c.req.Header.Get(headerName)
	if hn == "" && !required {
		return nil
	}
	if hn == "" {
		return fmt.Errorf("missing required Mcp-Name header for %s", m.Method)
	}
	if name := paramsName(m.Method, m.Params); hn != name {
		return fmt.Errorf("header mismatch: Mcp-Name %q does not match the name in the body", hn)
	}
	return nil
}

// paramsName extracts the tool or prompt name, or the resource URI, from params.
func paramsName(method string, params json.RawMessage) string {
	var p struct {
		Name string `json:"name"`
		URI  string `json:"uri"`
	}
	_ = json.Unmarshal(params, &p)
	if method == "resources/read" || method == "resources/subscribe" || method == "resources/unsubscribe" {
		return p.URI
	}
	return p.Name
}

// openSession validates the client's session id, if any, and loads the sealed state.
func (c *call) openSession(w http.ResponseWriter) bool {
	id := c.req.Header.Get(headerSessionID)
	if id == "" {
		if c.version < stateless && c.msg != nil && c.msg.Method != "initialize" && c.msg.Method != "server/discover" && c.msg.isRequest() {
			c.reject(w, http.StatusBadRequest, c.msg.ID, CodeInvalidRequest, "Bad Request: missing Mcp-Session-Id (initialize first)", "no_session")
			return false
		}
		return true
	}
	st, err := c.rt.sessions.open(id, c.caller.key)
	if err != nil || st.route != c.route.name {
		if errors.Is(err, errSessionForeign) {
			c.s.metrics.rejected.WithLabelValues(c.route.name, "session_foreign").Inc()
			http.Error(w, "Forbidden: session belongs to another principal", http.StatusForbidden)
			return false
		}
		c.s.metrics.rejected.WithLabelValues(c.route.name, "session_invalid").Inc()
		http.Error(w, "Not Found: unknown or expired session", http.StatusNotFound)
		return false
	}
	c.sess = st
	if c.version == "" {
		c.version = st.protocolVersion
	}
	return true
}

// backendSession returns the call's session with backend b (empty for stateless calls).
func (c *call) backendSession(b *backend) (backendSession, bool) {
	if c.sess == nil {
		return backendSession{endpoint: b.url}, true
	}
	bs, ok := c.sess.backends[b.cfg.Name]
	return bs, ok
}

// fanoutTimeout derives the context of a call sent to every backend of a route: on a
// multi-backend route a slow backend must not hold up the others' answer.
func (c *call) fanoutTimeout() (context.Context, context.CancelFunc) {
	t := c.route.cfg.Policies.Timeouts
	d := t.Request.Duration
	if f := t.Fanout.Duration; len(c.route.backends) > 1 && f > 0 && f < d {
		d = f
	}
	return context.WithTimeout(c.req.Context(), d)
}

// timeout derives the context for a backend call to the exposed tool name.
func (c *call) timeout(tool string) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.req.Context(), c.route.timeoutFor(tool))
}

func anonymousCaller() *caller {
	return &caller{key: "anonymous", subject: "anonymous", username: "anonymous", anonymous: true}
}

// rewriteParamsName returns body with params.name (or params.uri) replaced, keeping everything else.
func rewriteParamsName(m *message, field, value string) ([]byte, error) {
	var params map[string]json.RawMessage
	if err := json.Unmarshal(m.Params, &params); err != nil {
		return nil, fmt.Errorf("decode params: %w", err)
	}
	v, _ := json.Marshal(value)
	params[field] = v
	p, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("encode params: %w", err)
	}
	out := *m
	out.Params = p
	b, err := json.Marshal(&out)
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	return b, nil
}
