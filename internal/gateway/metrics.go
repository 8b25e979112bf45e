package gateway

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's Prometheus collectors.
type metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	authz          *prometheus.CounterVec
	authn          *prometheus.CounterVec
	rateLimited    *prometheus.CounterVec
	rejected       *prometheus.CounterVec
	backendErrors  *prometheus.CounterVec
	conflicts      *prometheus.GaugeVec
	sessions       prometheus.Counter
	sessionsClosed prometheus.Counter
	streams        prometheus.Gauge
	generation     prometheus.Gauge
	reloads        *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns = "toolmesh_gateway"
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "requests_total",
			Help: "MCP requests by route, method, tool and outcome."}, []string{"route", "method", "tool", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "request_duration_seconds",
			Help:    "Latency of MCP requests by route and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, []string{"route", "method"}),
		authz: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "authz_decisions_total",
			Help: "Authorization decisions by route, action and decision (allow, deny, audit_deny)."}, []string{"route", "action", "decision"}),
		authn: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "authn_failures_total",
			Help: "Rejected bearer tokens by route and reason."}, []string{"route", "reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rate_limited_total",
			Help: "Calls refused by the route's rate limit."}, []string{"route"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rejected_requests_total",
			Help: "Requests refused before dispatch, by route and reason."}, []string{"route", "reason"}),
		backendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "backend_errors_total",
			Help: "Failed exchanges with backends."}, []string{"route", "backend"}),
		conflicts: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "name_conflicts",
			Help: "Exposed names hidden because an earlier backend of the route offers the same name."}, []string{"route"}),
		sessions: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "sessions_created_total",
			Help: "Client sessions created."}),
		sessionsClosed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "sessions_deleted_total",
			Help: "Client sessions ended by DELETE."}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "active_streams",
			Help: "Open standalone event streams (one per active session that listens)."}),
		generation: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "config_generation",
			Help: "Generation of the configuration being served."}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "config_reloads_total",
			Help: "Configuration loads by result."}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.authz, m.authn, m.rateLimited, m.rejected,
		m.backendErrors, m.conflicts, m.sessions, m.sessionsClosed, m.streams, m.generation, m.reloads} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}
