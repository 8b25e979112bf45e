package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// authorize asks the route's authorizer whether the caller may perform action on res, counts the
// decision and remembers it for the audit line. Listing filters pass record=false.
func (c *call) authorize(action string, b *backend, res resourceRef, args map[string]any, record bool) decision {
	if c.route.authz == nil {
		return decision{allowed: true}
	}
	d := c.route.authz.decide(c.caller, action, c.route.name, b.cfg.Name, res, args)
	label := "allow"
	switch {
	case !d.allowed:
		label = "deny"
	case d.audited:
		label = "audit_deny"
	}
	if record {
		c.s.metrics.authz.WithLabelValues(c.route.name, action, label).Inc()
		c.decision = label
	}
	return d
}

// finish records the call's metrics and writes its audit line, once.
func (c *call) finish(outcome string) {
	if c.finished || c.msg == nil {
		return
	}
	c.finished = true
	c.endSpan(outcome)
	elapsed := time.Since(c.start)
	tool := c.tool
	if tool != "" {
		if cat := c.route.catalog.Load(); cat == nil || !knownName(cat, tool) {
			tool = "unknown"
		}
	}
	method := methodLabel(c.msg.Method)
	c.s.metrics.requests.WithLabelValues(c.route.name, method, tool, outcome).Inc()
	c.s.metrics.duration.WithLabelValues(c.route.name, method).Observe(elapsed.Seconds())
	if c.s.audit == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("principal", c.caller.key),
		slog.String("route", c.route.name),
		slog.String("method", c.msg.Method),
		slog.String("outcome", outcome),
		slog.Float64("latency_ms", float64(elapsed.Microseconds())/1000),
		slog.Int64("config_generation", c.rt.generation),
	}
	if c.tool != "" {
		attrs = append(attrs, slog.String("tool", c.tool))
	}
	if c.decision != "" {
		attrs = append(attrs, slog.String("decision", c.decision))
	}
	c.s.audit.LogAttrs(context.Background(), slog.LevelInfo, "call", attrs...)
}

// auditRejection writes the audit line of a request refused before dispatch.
func (c *call) auditRejection(reason string) {
	if c.s.audit == nil {
		return
	}
	principal, method := "", ""
	if c.caller != nil {
		principal = c.caller.key
	}
	if c.msg != nil {
		method = c.msg.Method
	}
	c.s.audit.LogAttrs(context.Background(), slog.LevelInfo, "call",
		slog.String("principal", principal), slog.String("route", c.route.name), slog.String("method", method),
		slog.String("outcome", "rejected"), slog.String("reason", reason),
		slog.Float64("latency_ms", float64(time.Since(c.start).Microseconds())/1000),
		slog.Int64("config_generation", c.rt.generation))
}

// knownMethods bounds the method label of metrics; clients choose method names freely.
var knownMethods = map[string]bool{
	"initialize": true, "server/discover": true, "ping": true, "tools/list": true, "tools/call": true,
	"prompts/list": true, "prompts/get": true, "resources/list": true, "resources/templates/list": true,
	"resources/read": true, "resources/subscribe": true, "resources/unsubscribe": true,
	"completion/complete": true, "logging/setLevel": true, "subscriptions/listen": true,
	"tasks/get": true, "tasks/list": true, "tasks/result": true, "tasks/cancel": true,
}

func methodLabel(m string) string {
	if knownMethods[m] {
		return m
	}
	return "other"
}

func knownName(cat *catalog, name string) bool {
	_, ok := cat.items["tools/list"][name]
	return ok
}

// serveMetadata serves RFC 9728 protected-resource metadata for the route at the suffix path.
func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request, rt *runtime, listener, routePath string) {
	rte := rt.match(listener, r.Host, routePath)
	if rte == nil || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	var issuers []string
	for _, p := range rt.cfg.Authentication.OIDC {
		issuers = append(issuers, p.Issuer)
	}
	doc := map[string]any{
		"resource":                 resourceURL(r, rte.cfg.Path),
		"authorization_servers":    issuers,
		"bearer_methods_supported": []string{"header"},
		"resource_name":            rte.name,
	}
	w.Header().Set("Cache-Control", "max-age=300")
	writeJSON(w, http.StatusOK, doc)
}

// resourceURL is the route's public URL as the client addressed it.
func resourceURL(r *http.Request, routePath string) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host + routePath
}

// metadataURL is where the route's protected-resource metadata lives.
func metadataURL(r *http.Request, routePath string) string {
	u := resourceURL(r, routePath)
	return u[:len(u)-len(routePath)] + wellKnownPrefix + routePath
}

// AdminHandler serves the admin endpoints: /conflicts (tool name conflicts per route, JSON),
// /config (generation, revision and the last reload error), /healthz and /readyz.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /conflicts", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"conflicts": s.Conflicts()})
	})
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, _ *http.Request) {
		out := map[string]any{"generation": s.Generation(), "lastError": s.LastError()}
		if rt := s.current.Load(); rt != nil {
			out["revision"] = rt.cfg.Revision
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.current.Load() == nil {
			http.Error(w, "no configuration", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// Conflicts returns the naming conflicts found so far on every route of the current configuration.
func (s *Server) Conflicts() []Conflict {
	out := []Conflict{}
	rt := s.current.Load()
	if rt == nil {
		return out
	}
	for _, r := range rt.routes {
		out = append(out, r.catalog.Load().allConflicts()...)
	}
	return out
}
