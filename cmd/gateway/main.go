package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/toolmesh/toolmesh/internal/gateway"
	"github.com/toolmesh/toolmesh/internal/ir"
)

// version is set at link time.
var version = "dev"

type flags struct {
	config         string
	listen         string
	admin          string
	metrics        string
	audit          string
	reloadInterval time.Duration
	logLevel       string
	otlpEndpoint   string
}

func main() {
	var f flags
	flag.StringVar(&f.config, "config", "", "path of the gateway configuration file (YAML or JSON, "+ir.APIVersion+")")
	flag.StringVar(&f.listen, "listen", "", "serve every route on this address instead of the configured listeners")
	flag.StringVar(&f.admin, "admin-listen", "127.0.0.1:9091", "address of the admin endpoints (/conflicts, /config, /healthz, /readyz); empty disables")
	flag.StringVar(&f.metrics, "metrics-listen", "127.0.0.1:9090", "address of the Prometheus /metrics endpoint; empty disables")
	flag.StringVar(&f.audit, "audit-log", "-", "where to write the JSON audit log: - for stdout, a file path, or empty to disable")
	flag.DurationVar(&f.reloadInterval, "reload-interval", 2*time.Second, "how often the configuration file is checked for changes")
	flag.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	flag.StringVar(&f.otlpEndpoint, "otlp-endpoint", "", "OTLP/HTTP endpoint URL for traces (e.g. http://collector:4318); tracing is off unless this or OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT is set")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, f); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, f flags) error {
	if f.config == "" {
		return errors.New("--config is required")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("parse --log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	audit, closeAudit, err := openAudit(f.audit)
	if err != nil {
		return err
	}
	defer closeAudit()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	tp, err := tracerProvider(ctx, f.otlpEndpoint)
	if err != nil {
		return err
	}
	opts := gateway.Options{Logger: logger, Audit: audit, Registerer: reg, Version: version}
	if tp != nil {
		opts.TracerProvider = tp
		defer func() {
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = tp.Shutdown(shutdownCtx)
		}()
	}
	srv, err := gateway.New(opts)
	if err != nil {
		return fmt.Errorf("create gateway: %w", err)
	}
	if err := srv.LoadFile(ctx, f.config); err != nil {
		return err
	}
	cfg, err := ir.Load(f.config)
	if err != nil {
		return err
	}
	servers := map[string]http.Handler{}
	if f.listen != "" {
		servers[f.listen] = srv
	} else {
		for _, l := range cfg.Listeners {
			servers[l.Address] = srv.Handler(l.Name)
		}
	}
	if f.admin != "" {
		servers[f.admin] = srv.AdminHandler()
	}
	if f.metrics != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		servers[f.metrics] = mux
	}
	go srv.WatchFile(ctx, f.config, f.reloadInterval)
	go reloadOnHUP(ctx, srv, f.config, logger)
	return serveAll(ctx, logger, servers)
}

func openAudit(dest string) (io.Writer, func(), error) {
	switch dest {
	case "":
		return nil, func() {}, nil
	case "-":
		return os.Stdout, func() {}, nil
	}
	file, err := os.OpenFile(dest, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open audit log: %w", err)
	}
	return file, func() { _ = file.Close() }, nil
}

func reloadOnHUP(ctx context.Context, srv *gateway.Server, path string, logger *slog.Logger) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	defer signal.Stop(ch)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			if err := srv.LoadFile(ctx, path); err != nil {
				logger.Error("Kept the last good configuration", "error", err)
			}
		}
	}
}

// serveAll serves each address until ctx ends, then shuts all servers down gracefully.
func serveAll(ctx context.Context, logger *slog.Logger, handlers map[string]http.Handler) error {
	errc := make(chan error, len(handlers))
	var servers []*http.Server
	for addr, h := range handlers {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", addr, err)
		}
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
		servers = append(servers, hs)
		logger.Info("Serving", "address", ln.Addr().String())
		go func() {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", addr, err)
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, hs := range servers {
		_ = hs.Shutdown(shutdownCtx)
	}
	return err
}

// tracerProvider returns an OTLP/HTTP trace pipeline when an endpoint is configured by flag or by
// the standard OTEL_EXPORTER_OTLP_* variables, and nil otherwise.
func tracerProvider(ctx context.Context, endpoint string) (*sdktrace.TracerProvider, error) {
	var opts []otlptracehttp.Option
	switch {
	case endpoint != "":
		u, err := url.Parse(endpoint)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("parse --otlp-endpoint %q: must be an absolute URL", endpoint)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/traces"
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
	case os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "":
		return nil, nil
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("create OTLP trace exporter: %w", err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "toolmesh-gateway"), attribute.String("service.version", version))
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}
