package gateway

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// propagator carries W3C trace context from clients to backends.
var propagator = propagation.TraceContext{}

// startSpan opens the server span of a request when tracing is configured, continuing the
// client's trace, and returns the request carrying it.
func (s *Server) startSpan(r *http.Request, route string) (*http.Request, trace.Span) {
	if s.tracer == nil {
		return r, nil
	}
	ctx := propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := s.tracer.Start(ctx, "mcp "+route, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("toolmesh.route", route), attribute.String("http.request.method", r.Method)))
	return r.WithContext(ctx), span
}

// endSpan records the call's outcome on its span.
func (c *call) endSpan(outcome string) {
	if c.span == nil {
		return
	}
	attrs := []attribute.KeyValue{attribute.String("toolmesh.outcome", outcome)}
	if c.msg != nil {
		attrs = append(attrs, attribute.String("rpc.method", c.msg.Method))
	}
	if c.tool != "" {
		attrs = append(attrs, attribute.String("toolmesh.tool", c.tool))
	}
	if c.decision != "" {
		attrs = append(attrs, attribute.String("toolmesh.authz.decision", c.decision))
	}
	c.span.SetAttributes(attrs...)
	if outcome != "ok" {
		c.span.SetStatus(codes.Error, outcome)
	}
}

// injectTrace puts the trace context of the call into a backend request's headers: the gateway's
// span when tracing is on, the client's traceparent otherwise.
func (c *call) injectTrace(h http.Header) {
	if c.span != nil {
		propagator.Inject(c.req.Context(), propagation.HeaderCarrier(h))
		return
	}
	if tp := c.req.Header.Get("Traceparent"); tp != "" {
		h["Traceparent"] = []string{tp}
	}
}
