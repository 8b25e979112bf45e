// Command demo runs Toolmesh end to end on an embedded local control plane: it starts etcd and
// kube-apiserver (built by hack/envtest-assets.sh), installs the CRDs, runs the operator binary,
// applies config/samples plus a remote MCPServer fronting a stdio MCP server that stdio-bridge
// serves on loopback, prints what the operator made of them, calls that server's tools through
// the gateway under a Cedar policy, and stops everything it started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	toolmeshv1alpha1 "github.com/toolmesh/toolmesh/api/v1alpha1"
	"github.com/toolmesh/toolmesh/internal/testenv"
)

func main() {
	manager := flag.String("manager", "bin/manager", "Path of the operator binary.")
	bridge := flag.String("stdio-bridge", "bin/stdio-bridge", "Path of the stdio-bridge binary.")
	gateway := flag.String("gateway", "bin/gateway", "Path of the gateway binary.")
	stdio := flag.Bool("serve-stdio", false, "Serve the demo's weather MCP server on stdin/stdout and exit (run by stdio-bridge).")
	flag.Parse()
	if *stdio {
		_ = weatherServer().Run(context.Background(), &mcp.StdioTransport{})
		return
	}
	if err := run(*manager, *bridge, *gateway); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func run(manager, bridge, gatewayBin string) error {
	root := testenv.RepoRoot()
	work := filepath.Join(root, ".cache", "demo")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}

	step("Starting etcd and kube-apiserver from %s", os.Getenv("KUBEBUILDER_ASSETS"))
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() {
		step("Stopping the control plane")
		_ = env.Stop()
	}()
	kubeconfig, err := writeKubeconfig(env, work)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "toolmesh-system"}}); err != nil {
		return fmt.Errorf("create namespace toolmesh-system: %w", err)
	}

	step("Running the operator (%s); its log is %s", manager, filepath.Join(work, "manager.log"))
	mgr, err := testenv.StartManager(manager, kubeconfig, filepath.Join(work, "manager.log"),
		"--operator-namespace=toolmesh-system", "--stdio-bridge-image=ghcr.io/toolmesh/stdio-bridge:v0.1.0")
	if err != nil {
		return err
	}
	defer mgr.Stop()

	step("Serving a stdio MCP server through %s on loopback, for a remote MCPServer to front", bridge)
	bridgeURL, stopBridge, err := startBridge(bridge, filepath.Join(work, "stdio-bridge.log"))
	if err != nil {
		return err
	}
	defer stopBridge()

	step("kubectl apply -k config/samples")
	if err := kubectl(kubeconfig, "apply", "--server-side", "-k", filepath.Join(root, "config", "samples")); err != nil {
		return err
	}
	remote := &toolmeshv1alpha1.MCPServer{
		ObjectMeta: metav1.ObjectMeta{Name: "weather", Namespace: "default"},
		Spec: toolmeshv1alpha1.MCPServerSpec{
			Remote:    &toolmeshv1alpha1.RemoteServer{URL: bridgeURL},
			Discovery: &toolmeshv1alpha1.DiscoverySpec{ExpectedTools: []string{"forecast", "alerts"}},
		},
	}
	if err := env.Client.Create(ctx, remote); err != nil {
		return fmt.Errorf("create MCPServer weather: %w", err)
	}

	step("Waiting for the operator to reconcile every server")
	if err := waitReconciled(ctx, env.Client); err != nil {
		return err
	}

	step("kubectl get toolmesh -A")
	if err := kubectl(kubeconfig, "get", "toolmesh", "-A"); err != nil {
		return err
	}
	step("What the operator created (server-side apply, field manager toolmesh-operator)")
	if err := kubectl(kubeconfig, "get", "deployments,services,serviceaccounts,networkpolicies", "-A",
		"-l", "app.kubernetes.io/managed-by=toolmesh-operator"); err != nil {
		return err
	}
	step("Tools the operator discovered on the remote server (MCP initialize + tools/list)")
	if err := kubectl(kubeconfig, "get", "mcpserver", "weather", "-n", "default", "-o",
		`jsonpath={range .status.tools[*]}{.name}{"\t"}{.description}{"\n"}{end}{range .status.conditions[*]}{.type}={.status} ({.reason}){"\n"}{end}`); err != nil {
		return err
	}
	step("Calling the weather server through the gateway (%s), with a Cedar policy that forbids alerts", gatewayBin)
	if err := throughGateway(ctx, gatewayBin, bridgeURL, work); err != nil {
		return err
	}

	fmt.Println("\nThis embedded control plane runs no kubelet, so workload servers stay Progressing;")
	fmt.Println("the remote server is Ready because it needs no pods. Kubeconfig while it ran:", kubeconfig)
	return nil
}

func writeKubeconfig(env *testenv.Env, dir string) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}})
	if err != nil {
		return "", fmt.Errorf("add demo user: %w", err)
	}
	b, err := user.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("render kubeconfig: %w", err)
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, b, 0o600)
}

// startBridge runs stdio-bridge with this program's --serve-stdio mode as the stdio server, as
// a pod of a stdio MCPServer would, and returns its MCP endpoint.
func startBridge(bridge, logPath string) (string, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	addr, err := testenv.FreeAddr()
	if err != nil {
		return "", nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bridge, "--listen="+addr, "--path=/mcp", "--max-sessions=4", "--", self, "--serve-stdio")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start %s: %w", bridge, err)
	}
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		_ = logFile.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			_ = resp.Body.Close()
			return "http://" + addr + "/mcp", stop, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return "", nil, errors.New("stdio-bridge did not start within 10s; see " + logPath)
}

func weatherServer() *mcp.Server {
	server := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "0.1.0"}, nil)
	type where struct {
		City string `json:"city" jsonschema:"the city to report on"`
	}
	tool := func(name, desc string) {
		mcp.AddTool(server, &mcp.Tool{Name: name, Description: desc, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
			func(_ context.Context, _ *mcp.CallToolRequest, in where) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + " for " + in.City + ": sunny"}}}, nil, nil
			})
	}
	tool("forecast", "Three-day forecast for a city.")
	tool("alerts", "Active weather alerts for a city.")
	return server
}

// waitReconciled waits until every server's status describes its current generation and the
// remote server has listed its tools.
func waitReconciled(ctx context.Context, c client.Client) error {
	for {
		var servers toolmeshv1alpha1.MCPServerList
		var cluster toolmeshv1alpha1.ClusterMCPServerList
		if err := c.List(ctx, &servers); err != nil {
			return err
		}
		if err := c.List(ctx, &cluster); err != nil {
			return err
		}
		pending := 0
		for _, s := range servers.Items {
			if s.Status.ObservedGeneration != s.Generation || (s.Spec.Remote != nil && s.Status.ToolCount == 0) {
				pending++
			}
		}
		for _, s := range cluster.Items {
			if s.Status.ObservedGeneration != s.Generation {
				pending++
			}
		}
		if pending == 0 && len(servers.Items) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d servers not reconciled: %w", pending, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func kubectl(kubeconfig string, args ...string) error {
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

const gatewayConfig = `apiVersion: toolmesh.io/gateway-config/v1alpha1
listeners: [{name: http, address: "%s"}]
authentication: {anonymous: Allow}
authorization:
  policies:
  - |
    permit (principal, action, resource);
    forbid (principal, action == Action::"tools/call", resource == Tool::"alerts");
routes:
- name: weather
  path: /mcp/weather
  backends: [{name: weather, url: "%s", sessionMode: Stateful}]
`

// throughGateway runs the gateway in front of the weather server and lists and calls its tools
// with an MCP client, as an LLM platform would.
func throughGateway(ctx context.Context, bin, backendURL, work string) error {
	addr, err := testenv.FreeAddr()
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(work, "gateway.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(gatewayConfig, addr, backendURL)), 0o600); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(work, "gateway.log"))
	if err != nil {
		return err
	}
	defer func() { _ = logFile.Close() }()
	cmd := exec.Command(bin, "--config", cfgPath, "--admin-listen=", "--metrics-listen=", "--audit-log", filepath.Join(work, "gateway-audit.log"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()

	url := "http://" + addr + "/mcp/weather"
	client := mcp.NewClient(&mcp.Implementation{Name: "demo-llm-platform", Version: "0.1.0"}, nil)
	var cs *mcp.ClientSession
	deadline := time.Now().Add(10 * time.Second)
	for cs == nil {
		cs, err = client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, MaxRetries: -1}, nil)
		if err != nil && time.Now().After(deadline) {
			return fmt.Errorf("connect to the gateway at %s: %w", url, err)
		}
		if err != nil {
			time.Sleep(200 * time.Millisecond)
		}
	}
	defer func() { _ = cs.Close() }()
	var names []string
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return fmt.Errorf("tools/list through the gateway: %w", err)
		}
		names = append(names, tool.Name)
	}
	fmt.Printf("tools/list via %s: %s (alerts is hidden: the policy forbids calling it)\n", url, strings.Join(names, ", "))
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "forecast", Arguments: map[string]any{"city": "Lisbon"}})
	if err != nil {
		return fmt.Errorf("tools/call forecast through the gateway: %w", err)
	}
	if text, ok := res.Content[0].(*mcp.TextContent); ok {
		fmt.Printf("tools/call forecast: %s\n", text.Text)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "alerts", Arguments: map[string]any{"city": "Lisbon"}}); err != nil {
		fmt.Printf("tools/call alerts: refused (%v)\n", err)
	} else {
		return errors.New("the gateway let a forbidden call through")
	}
	fmt.Println("audit log:", filepath.Join(work, "gateway-audit.log"))
	return nil
}
