package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// One API server and one binary for the package.
var (
	binary     string
	kubeconfig string
	clientset  kubernetes.Interface
	workDir    string
	tokenFile  string
)

func TestMain(m *testing.M) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "FAIL: KUBEBUILDER_ASSETS is not set. These tests run the real binary against a real kube-apiserver (envtest). "+
			"Run them through `make test`, or export KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh).")
		os.Exit(1)
	}
	code := 1
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: start envtest: %v\n", err)
		os.Exit(1)
	}
	if workDir, err = os.MkdirTemp("", "gpu-mcp-e2e-"); err == nil {
		if err = prepare(cfg); err == nil {
			code = m.Run()
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
	}
	_ = env.Stop()
	_ = os.RemoveAll(workDir)
	os.Exit(code)
}

func prepare(cfg *rest.Config) error {
	clientset = kubernetes.NewForConfigOrDie(cfg)
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	kubeconfig = filepath.Join(workDir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	ctx := context.Background()
	if _, err := clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "toolmesh-system"}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace: %w", err)
	}
	if _, err := clientset.CoreV1().ServiceAccounts("toolmesh-system").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "gpu-mcp-server"}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create service account: %w", err)
	}
	// The default audience, as the token the server role has mounted.
	tr, err := clientset.CoreV1().ServiceAccounts("toolmesh-system").CreateToken(ctx, "gpu-mcp-server", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("request token: %w", err)
	}
	tokenFile = filepath.Join(workDir, "agent-token")
	if err := os.WriteFile(tokenFile, []byte(tr.Status.Token), 0o600); err != nil {
		return fmt.Errorf("write token: %w", err)
	}
	binary = filepath.Join(workDir, "gpu-mcp-server")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		return fmt.Errorf("build binary: %w: %s", err, out)
	}
	return nil
}

// start runs the binary and returns the address it printed.
func start(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append(args, "--kubeconfig="+kubeconfig, "--listen=127.0.0.1:0")...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatalf("%v printed nothing", args)
	}
	addr, ok := strings.CutPrefix(sc.Text(), "listening on ")
	if !ok {
		t.Fatalf("unexpected first line %q", sc.Text())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return addr
}

// ok returns v; a setup error panics, which fails the test with its stack.
func ok[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func registerAgent(t *testing.T, node, addr string) {
	t.Helper()
	ctx := context.Background()
	u := ok(url.Parse("http://" + addr))
	port := ok(strconv.Atoi(u.Port()))
	ok(clientset.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node, Labels: map[string]string{"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}}}, metav1.CreateOptions{}))
	p := ok(clientset.CoreV1().Pods("toolmesh-system").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "gpu-mcp-agent-" + node, Namespace: "toolmesh-system", Labels: map[string]string{"app.kubernetes.io/name": "gpu-mcp-agent"}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "agent", Image: "toolmesh/gpu-mcp-server", Ports: []corev1.ContainerPort{{Name: "agent", ContainerPort: int32(port)}}}}},
	}, metav1.CreateOptions{}))
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = "127.0.0.1"
	ok(clientset.CoreV1().Pods("toolmesh-system").UpdateStatus(ctx, p, metav1.UpdateOptions{}))
}

// TestServerAndAgentProcesses runs the server role and two agent processes of the real binary:
// one on a fake DGX H100 with an Xid storm, one on real NVML, which this machine lacks.
func TestServerAndAgentProcesses(t *testing.T) {
	ctx := context.Background()
	registerAgent(t, "dgx-fake", start(t, "--role=agent", "--nvml=fake:xid-storm", "--proc-root="+workDir))
	registerAgent(t, "dgx-nodriver", start(t, "--role=agent", "--nvml=real", "--kmsg="))
	server := start(t, "--role=server", "--agent-token-file="+tokenFile)

	cs := ok(mcp.NewClient(&mcp.Implementation{Name: "e2e"}, nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + server + "/mcp"}, nil))
	defer func() { _ = cs.Close() }()
	tools := ok(cs.ListTools(ctx, nil))
	if len(tools.Tools) != 12 {
		t.Fatalf("read-only server lists %d tools", len(tools.Tools))
	}
	tests := []struct {
		name, tool string
		args       map[string]any
		want       string
		isError    bool
	}{
		{"health over HTTP from a fake DGX H100", "get_gpu_health", map[string]any{"node": "dgx-fake"}, `"verdict":"reset_gpu"`, false},
		{"xids with catalogue", "analyze_xid_errors", map[string]any{"node": "dgx-fake", "gpu": "3"}, `"mnemonic":"ROBUST_CHANNEL_GR_EXCEPTION"`, false},
		{"agent without NVML says why", "get_gpu_inventory", map[string]any{"node": "dgx-nodriver"}, "NVML driver not found", true},
		{"all nodes, one failing", "get_gpu_telemetry", nil, `"error":"agent on dgx-nodriver: NVML driver not found`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ok(cs.CallTool(ctx, &mcp.CallToolParams{Name: tt.tool, Arguments: tt.args}))
			text := ""
			if res.IsError {
				text = res.Content[0].(*mcp.TextContent).Text
			} else {
				text = string(ok(json.Marshal(res.StructuredContent)))
			}
			if res.IsError != tt.isError || !strings.Contains(text, tt.want) {
				t.Fatalf("isError=%v text=%s; want %q", res.IsError, text, tt.want)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--mode=admin"}, "--mode must be read-only or operator"},
		{[]string{"--role=sidecar"}, "--role must be server or agent"},
		{[]string{"--role=agent", "--mode=operator"}, ""},
		{[]string{"--role=agent", "--tls-cert-file=c.pem"}, "go together"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := parse(tt.args, io.Discard)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("parse(%v) = %v, want %q", tt.args, err, tt.wantErr)
			}
		})
	}
}
