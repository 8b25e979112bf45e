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
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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
	flag.Parse()
	if err := run(f); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(f flags) error {
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
	srv, err := gateway.New(gateway.Options{Logger: logger, Audit: audit, Registerer: reg, Version: version})
	if err != nil {
		return fmt.Errorf("create gateway: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
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
