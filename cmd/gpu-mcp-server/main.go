package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/toolmesh/toolmesh/internal/gpu/agent"
	"github.com/toolmesh/toolmesh/internal/gpu/cluster"
	"github.com/toolmesh/toolmesh/internal/gpu/ops"
	"github.com/toolmesh/toolmesh/internal/gpu/podresources"
	"github.com/toolmesh/toolmesh/internal/gpu/procmap"
	"github.com/toolmesh/toolmesh/internal/gpu/prom"
	"github.com/toolmesh/toolmesh/internal/gpu/xid"
	"github.com/toolmesh/toolmesh/internal/gpumcp"
)

type config struct {
	role, mode, listen, path, kubeconfig                         string
	prometheusURL                                                string
	agentNamespace, agentSelector, agentPort                     string
	agentTokenFile, agentAudience                                string
	stateless                                                    bool
	allowedCallers, nvml, kmsgPath, procRoot, podResourcesSocket string
	version                                                      string
	tlsCert, tlsKey, agentCA, agentTLSName                       string
}

func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("gpu-mcp-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.role, "role", "server", "server (MCP over streamable HTTP) or agent (node API over NVML)")
	fs.StringVar(&c.mode, "mode", string(gpumcp.ModeReadOnly), "read-only or operator; operator adds cordon, drain, kill and reset")
	fs.StringVar(&c.listen, "listen", ":8080", "address to listen on")
	fs.StringVar(&c.path, "path", "/mcp", "server role: HTTP path of the MCP endpoint")
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig file; in-cluster configuration when empty")
	fs.StringVar(&c.prometheusURL, "prometheus-url", "", "server role: Prometheus base URL for get_gpu_metrics")
	fs.StringVar(&c.agentNamespace, "agent-namespace", "toolmesh-system", "server role: namespace of the agent DaemonSet")
	fs.StringVar(&c.agentSelector, "agent-selector", "app.kubernetes.io/name=gpu-mcp-agent", "server role: label selector of agent pods")
	fs.StringVar(&c.agentPort, "agent-port-name", "agent", "server role: name of the agent container port")
	fs.StringVar(&c.agentTokenFile, "agent-token-file", "/var/run/secrets/kubernetes.io/serviceaccount/token", "server role: ServiceAccount token presented to agents (a projected token with the agents' audience where it can be mounted)")
	fs.StringVar(&c.agentAudience, "agent-audience", "", "agent role: audience callers' tokens must carry; empty accepts the API server's own audiences")
	fs.BoolVar(&c.stateless, "stateless", true, "server role: serve MCP without sessions (the tools keep no session state)")
	fs.StringVar(&c.allowedCallers, "allowed-callers", "system:serviceaccount:toolmesh-system:gpu-mcp-server", "agent role: comma-separated user names allowed to call")
	fs.StringVar(&c.nvml, "nvml", "real", "agent role: real, or fake:<scenario> for demos and tests")
	fs.StringVar(&c.kmsgPath, "kmsg", "/dev/kmsg", "agent role: kernel log to read Xids from; empty to skip")
	fs.StringVar(&c.procRoot, "proc-root", "/proc", "agent role: proc filesystem (the host's, with hostPID)")
	fs.StringVar(&c.podResourcesSocket, "pod-resources-socket", podresources.DefaultSocket, "agent role: the kubelet's PodResources socket, to name the pod each GPU is allocated to; empty disables")
	fs.StringVar(&c.version, "version-string", "dev", "version reported to MCP clients")
	fs.StringVar(&c.tlsCert, "tls-cert-file", "", "agent role: serve TLS with this certificate (re-read on every handshake, so rotation needs no restart)")
	fs.StringVar(&c.tlsKey, "tls-key-file", "", "agent role: private key of --tls-cert-file")
	fs.StringVar(&c.agentCA, "agent-ca-file", "", "server role: call agents over TLS, trusting this CA bundle")
	fs.StringVar(&c.agentTLSName, "agent-tls-server-name", "gpu-mcp-agent.toolmesh-system.svc", "server role: name the agents' certificate must carry")
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("parse flags: %w", err)
	}
	if c.mode != string(gpumcp.ModeReadOnly) && c.mode != string(gpumcp.ModeOperator) {
		return c, fmt.Errorf("--mode must be read-only or operator, not %q", c.mode)
	}
	if c.role != "server" && c.role != "agent" {
		return c, fmt.Errorf("--role must be server or agent, not %q", c.role)
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return c, fmt.Errorf("--tls-cert-file and --tls-key-file go together")
	}
	return c, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gpu-mcp-server:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil)).With("role", c.role, "mode", c.mode)
	rc, err := restConfig(c.kubeconfig)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("build kubernetes client: %w", err)
	}
	var handler http.Handler
	var tlsConfig *tls.Config
	if c.role == "agent" {
		h, closeFn, err := agentHandler(ctx, c, cs, log)
		if err != nil {
			return err
		}
		defer closeFn()
		handler = h
		if c.tlsCert != "" {
			tlsConfig = reloadingTLS(c.tlsCert, c.tlsKey)
		}
	} else {
		if handler, err = serverHandler(c, cs, log); err != nil {
			return err
		}
	}
	return serve(ctx, c.listen, handler, tlsConfig, stdout, log)
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster configuration (pass --kubeconfig outside a cluster): %w", err)
		}
		return rc, nil
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	return rc, nil
}

func serverHandler(c config, cs kubernetes.Interface, log *slog.Logger) (http.Handler, error) {
	reader := &cluster.Reader{Client: cs}
	agents := &cluster.Agents{Reader: reader, Namespace: c.agentNamespace, Selector: c.agentSelector, PortName: c.agentPort}
	hc := &http.Client{Timeout: 30 * time.Second}
	if c.agentCA != "" {
		pem, err := os.ReadFile(c.agentCA)
		if err != nil {
			return nil, fmt.Errorf("read agent CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("agent CA %s holds no PEM certificate", c.agentCA)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: c.agentTLSName, MinVersion: tls.VersionTLS12}}
		agents.Scheme = "https"
	}
	opts := gpumcp.Options{
		Cluster:     reader,
		Agents:      agents,
		AgentClient: &agent.Client{HTTP: hc, Token: agent.TokenFile(c.agentTokenFile)},
		Mode:        gpumcp.Mode(c.mode),
		Log:         log,
		Version:     c.version,
	}
	if c.mode == string(gpumcp.ModeOperator) {
		opts.Nodes = &ops.Nodes{Client: cs}
	}
	if c.prometheusURL != "" {
		opts.Prometheus = &prom.Client{BaseURL: c.prometheusURL, HTTP: &http.Client{Timeout: 30 * time.Second}}
	}
	srv := gpumcp.NewServer(opts)
	mux := http.NewServeMux()
	mux.Handle(c.path, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: c.stateless}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	return mux, nil
}

// reloadingTLS serves the certificate on disk now, so a rotated certificate needs no restart.
func reloadingTLS(certFile, keyFile string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return nil, fmt.Errorf("load serving certificate: %w", err)
			}
			return &cert, nil
		},
	}
}

func agentHandler(ctx context.Context, c config, cs kubernetes.Interface, log *slog.Logger) (http.Handler, func(), error) {
	cat, err := xid.Load()
	if err != nil {
		return nil, nil, err
	}
	svc := &agent.Service{Catalog: cat, Procs: &procmap.Mapper{Root: c.procRoot}}
	if c.podResourcesSocket != "" {
		svc.PodResources = &podresources.Client{Socket: c.podResourcesSocket}
	}
	closeFn := func() {}
	col, runEvents, err := openCollector(c.nvml)
	if err != nil {
		// Keep serving: every GPU call answers with this error, so the server can say what is wrong.
		log.Error("NVML unavailable", "err", err.Error())
		svc.CollectorErr = err
	} else {
		svc.Collector = col
		closeFn = func() { _ = col.Close() }
		if runEvents != nil {
			go func() {
				if err := runEvents(ctx); err != nil && !errors.Is(err, context.Canceled) {
					log.Error("NVML event loop stopped", "err", err.Error())
				}
			}()
		}
	}
	if c.kmsgPath != "" {
		svc.KernelLog = kernelLog(c)
	}
	h := agent.NewHandler(svc, agent.HandlerOptions{
		Auth:     &agent.TokenReviewAuthenticator{Client: cs, Audiences: audiences(c.agentAudience), Allowed: strings.Split(c.allowedCallers, ","), CacheTTL: 10 * time.Second},
		Operator: c.mode == string(gpumcp.ModeOperator),
		Log:      log,
	})
	return h, closeFn, nil
}

func audiences(a string) []string {
	if a == "" {
		return nil
	}
	return strings.Split(a, ",")
}

func kernelLog(c config) func() (xid.Log, error) {
	path := c.kmsgPath
	if strings.HasPrefix(c.nvml, "fake:") {
		// The fake node's kernel log is part of its scenario.
		return fakeKernelLog(strings.TrimPrefix(c.nvml, "fake:"))
	}
	return func() (xid.Log, error) {
		boot, err := xid.BootTime(time.Now(), c.procRoot)
		if err != nil {
			return xid.Log{}, err
		}
		return xid.ReadKmsg(path, boot)
	}
}

func serve(ctx context.Context, addr string, h http.Handler, tlsConfig *tls.Config, stdout io.Writer, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("Serving", "addr", ln.Addr().String())
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("shut down: %w", err)
		}
		return nil
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	}
}
