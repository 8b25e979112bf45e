package gateway

import (
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/toolmesh/toolmesh/internal/ir"
)

func TestTracingContinuesTheClientTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	be := newTestBackend(t, "one", backendOpts{stateless: true, tools: []string{"echo"}})
	_, gw := newTestGateway(t, &ir.Config{Routes: []ir.Route{mkRoute("traced", "/mcp", be.irBackend("", false))}}, Options{TracerProvider: tp})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientParent := "00-" + traceID + "-00f067aa0ba902b7-01"
	resp, _ := rawPost(t, gw.URL+"/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`,
		map[string]string{"Traceparent": clientParent, headerProtocolVersion: "2026-07-28", headerMethod: "tools/call", headerName: "echo"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var span *tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.SpanKind.String() == "server" {
			span = &s
		}
	}
	if span == nil || span.SpanContext.TraceID().String() != traceID {
		t.Fatalf("no server span in the client's trace: %+v", exp.GetSpans())
	}
	attrs := map[attribute.Key]string{}
	for _, a := range span.Attributes {
		attrs[a.Key] = a.Value.String()
	}
	if attrs["toolmesh.tool"] != "echo" || attrs["rpc.method"] != "tools/call" || attrs["toolmesh.outcome"] != "ok" {
		t.Fatalf("span attributes = %v", attrs)
	}
	var forwarded string
	for _, h := range be.headers() {
		if h.Get("Mcp-Method") == "tools/call" {
			forwarded = h.Get("Traceparent")
		}
	}
	if !strings.Contains(forwarded, traceID) || strings.Contains(forwarded, "00f067aa0ba902b7") {
		t.Fatalf("backend traceparent = %q, want the same trace under the gateway's span", forwarded)
	}
}
