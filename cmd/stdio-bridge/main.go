// Command stdio-bridge serves a stdio MCP server over streamable HTTP, one child process per MCP
// session. In a pod, an init container runs `stdio-bridge install DEST` to copy this static binary
// into a shared volume, and the server container runs `DEST [flags] -- command args...`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/toolmesh/toolmesh/internal/bridge"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "install" {
		if err := install(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "stdio-bridge install:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "stdio-bridge:", err)
		os.Exit(1)
	}
}

// install copies this executable to dest, executable by everyone.
func install(dest string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	in, err := os.Open(self)
	if err != nil {
		return fmt.Errorf("open %s: %w", self, err)
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(dest, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return fmt.Errorf("create %s: %w", dest, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return fmt.Errorf("copy to %s: %w", dest, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("close %s: %w", dest, err)
	}
	return nil
}

func run(args []string) error {
	fs := flag.NewFlagSet("stdio-bridge", flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "Address to serve MCP on.")
	path := fs.String("path", "/mcp", "Path of the streamable HTTP endpoint.")
	ssePath := fs.String("sse-path", "/sse", "Path of the legacy HTTP+SSE endpoint (messages are posted to <sse-path>/message).")
	maxSessions := fs.Int("max-sessions", 16, "Most sessions (child processes) at once.")
	idle := fs.Duration("idle-timeout", 10*time.Minute, "End a session after this long without activity.")
	maxBody := fs.Int64("max-body-bytes", 4<<20, "Largest request body accepted.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	command := fs.Args()
	if len(command) == 0 {
		return errors.New("usage: stdio-bridge [flags] -- command [args...]")
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	b, err := bridge.New(bridge.Options{
		Command: command, MaxSessions: *maxSessions, IdleTimeout: *idle, MaxBodyBytes: *maxBody,
		Stderr: os.Stderr, Logger: logger,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go b.RunReaper(ctx)

	mux := http.NewServeMux()
	mux.Handle(*path, b)
	sse := b.SSEHandler(*ssePath + "/message")
	mux.Handle(*ssePath, sse)
	mux.Handle(*ssePath+"/message", sse)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	logger.Info("Serving stdio server over streamable HTTP", "listen", *listen, "path", *path, "command", command[0])

	select {
	case err := <-errc:
		b.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	b.Close()
	return nil
}
