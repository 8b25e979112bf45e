package gpumcp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/toolmesh/toolmesh/internal/gpu/agent"
	"github.com/toolmesh/toolmesh/internal/gpu/cluster"
	"github.com/toolmesh/toolmesh/internal/gpu/fake"
	"github.com/toolmesh/toolmesh/internal/gpu/ops"
	"github.com/toolmesh/toolmesh/internal/gpu/podresources"
	"github.com/toolmesh/toolmesh/internal/gpu/procmap"
	"github.com/toolmesh/toolmesh/internal/gpu/xid"
)

const (
	agentNS       = "toolmesh-system"
	agentSelector = "app.kubernetes.io/name=gpu-mcp-agent"
	agentAudience = "toolmesh-gpu-agent"
	serverUser    = "system:serviceaccount:toolmesh-system:gpu-mcp-server"
	trainerCID    = "4f1c2b0e9d8a7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a291807f6e"
)

// Shared by the tests of this package: one API server for the package, started in TestMain.
var (
	clientset   kubernetes.Interface
	restConfig  *rest.Config
	serverToken string
	strangerTok string
	agentURLs   = map[string]string{}
	killed      = map[int]bool{}
	killedMu    sync.Mutex
	fakeNodes   = map[string]*fake.Node{}
	baseOptions Options
	procRoot    string
)

func TestMain(m *testing.M) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "FAIL: KUBEBUILDER_ASSETS is not set. These tests run a real kube-apiserver and etcd (envtest). "+
			"Run them through `make test`, or export KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh).")
		os.Exit(1)
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: start envtest: %v\n", err)
		os.Exit(1)
	}
	code := 1
	func() {
		defer func() {
			if r := recover(); r != nil {
				fmt.Fprintf(os.Stderr, "FAIL: set up fixtures: %v\n", r)
			}
		}()
		restConfig = cfg
		clientset = kubernetes.NewForConfigOrDie(cfg)
		setup(context.Background())
		code = m.Run()
	}()
	if err := env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
	}
	_ = os.RemoveAll(procRoot)
	os.Exit(code)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func q(s string) resource.Quantity { return resource.MustParse(s) }

func setup(ctx context.Context) {
	for _, ns := range []string{agentNS, "ml-team", "hami-users", "empty-team"} {
		must(clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}))
	}
	createNodes(ctx)
	pods := createWorkloads(ctx)
	createQuotas(ctx)
	for _, sa := range []string{"gpu-mcp-server", "stranger"} {
		must(clientset.CoreV1().ServiceAccounts(agentNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}))
	}
	serverToken = token(ctx, "gpu-mcp-server")
	strangerTok = token(ctx, "stranger")
	procRoot = must(os.MkdirTemp("", "gpu-proc-"))
	writeProc(51234, "python3", pods["trainer-0"].UID, trainerCID)
	writeProc(51300, "torchrun", pods["infer-0"].UID, strings.Repeat("ab", 32))
	// The kubelet on h100-a allocated GPUs 3 and 5 to trainer-0, yet infer-0's process runs on GPU 5.
	kubeletSock := serveKubelet(&podresourcesv1.ListPodResourcesResponse{PodResources: []*podresourcesv1.PodResources{{
		Namespace: "ml-team", Name: "trainer-0", Containers: []*podresourcesv1.ContainerResources{{
			Name: "trainer", Devices: []*podresourcesv1.ContainerDevices{{ResourceName: "nvidia.com/gpu", DeviceIds: []string{fake.UUID(3), fake.UUID(5)}}},
		}},
	}}})
	startAgent(ctx, "h100-a", fake.XIDStorm, kubeletSock)
	startAgent(ctx, "h100-mig", fake.MIGMixed, "")
	reader := &cluster.Reader{Client: clientset}
	baseOptions = Options{
		Cluster:     reader,
		Agents:      &cluster.Agents{Reader: reader, Namespace: agentNS, Selector: agentSelector, PortName: "agent"},
		AgentClient: &agent.Client{Token: func() (string, error) { return serverToken, nil }},
		Mode:        ModeReadOnly,
		Nodes:       &ops.Nodes{Client: clientset},
		Now:         func() time.Time { return fake.Epoch },
	}
}

func token(ctx context.Context, sa string) string {
	tr := must(clientset.CoreV1().ServiceAccounts(agentNS).CreateToken(ctx, sa, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: []string{agentAudience}}}, metav1.CreateOptions{}))
	return tr.Status.Token
}

func writeProc(pid int, comm string, uid types.UID, cid string) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	must(0, os.MkdirAll(dir, 0o755))
	line := fmt.Sprintf("0::/kubepods.slice/kubepods-pod%s.slice/cri-containerd-%s.scope\n", strings.ReplaceAll(string(uid), "-", "_"), cid)
	must(0, os.WriteFile(filepath.Join(dir, "cgroup"), []byte(line), 0o600))
	must(0, os.WriteFile(filepath.Join(dir, "comm"), []byte(comm+"\n"), 0o600))
}

func createNode(ctx context.Context, name string, labels, annotations map[string]string, capacity corev1.ResourceList, taints []corev1.Taint) {
	n := must(clientset.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations},
		Spec:       corev1.NodeSpec{Taints: taints},
	}, metav1.CreateOptions{}))
	n.Status.Capacity = capacity
	n.Status.Allocatable = capacity.DeepCopy()
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
	must(clientset.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}))
}

func createNodes(ctx context.Context) {
	base := corev1.ResourceList{corev1.ResourceCPU: q("64"), corev1.ResourceMemory: q("512Gi"), corev1.ResourcePods: q("110")}
	with := func(extra corev1.ResourceList) corev1.ResourceList {
		out := base.DeepCopy()
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	createNode(ctx, "a100-a", map[string]string{
		"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu.memory": "81920",
		"nvidia.com/gpu.count": "8", "nvidia.com/gpu.family": "ampere", "nvidia.com/mig.strategy": "none",
	}, nil, with(corev1.ResourceList{"nvidia.com/gpu": q("8")}), nil)
	createNode(ctx, "h100-a", map[string]string{
		"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.memory": "81559",
		"nvidia.com/gpu.count": "8", "nvidia.com/gpu.family": "hopper", "nvidia.com/mig.strategy": "none",
	}, map[string]string{"example.com/bmc-password": "hunter2"}, with(corev1.ResourceList{"nvidia.com/gpu": q("8")}),
		[]corev1.Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoSchedule}})
	createNode(ctx, "h100-mig", map[string]string{
		"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.memory": "81559",
		"nvidia.com/gpu.count": "8", "nvidia.com/gpu.family": "hopper", "nvidia.com/mig.strategy": "mixed",
	}, nil, with(corev1.ResourceList{
		"nvidia.com/gpu": q("5"), "nvidia.com/mig-3g.40gb": q("2"), "nvidia.com/mig-2g.20gb": q("1"),
		"nvidia.com/mig-1g.10gb": q("2"), "nvidia.com/mig-7g.80gb": q("1"), "nvidia.com/mig-4g.40gb": q("1"),
	}), nil)
	createNode(ctx, "hami-a", map[string]string{"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "gpu": "on"},
		map[string]string{cluster.AnnotationHAMiReg: `[{"id":"GPU-0aa1","count":10,"devmem":81920,"devcore":100,"type":"NVIDIA-NVIDIA A100-SXM4-80GB","numa":0,"mode":"hami-core","health":true},{"id":"GPU-0aa2","count":10,"devmem":81920,"devcore":100,"type":"NVIDIA-NVIDIA A100-SXM4-80GB","numa":1,"mode":"hami-core","health":false}]`},
		with(corev1.ResourceList{"nvidia.com/gpu": q("20"), "nvidia.com/gpumem": q("163840"), "nvidia.com/gpucores": q("200")}), nil)
	createNode(ctx, "hami-broken", map[string]string{"nvidia.com/gpu.present": "true"},
		map[string]string{cluster.AnnotationHAMiReg: "GPU-0bb1,10,81920,100,NVIDIA-A100,0,true:"}, with(nil), nil)
	createNode(ctx, "cpu-only", map[string]string{"kubernetes.io/os": "linux"}, nil, with(nil), nil)
}

func gpuContainer(name string, req corev1.ResourceList, env ...corev1.EnvVar) corev1.Container {
	return corev1.Container{Name: name, Image: "registry.example.com/train:1", Env: env, Resources: corev1.ResourceRequirements{Requests: req, Limits: req}}
}

func createPod(ctx context.Context, p *corev1.Pod, status func(*corev1.Pod)) *corev1.Pod {
	created := must(clientset.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}))
	created.Status.Phase = corev1.PodRunning
	if status != nil {
		status(created)
	}
	return must(clientset.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}))
}

func createWorkloads(ctx context.Context) map[string]*corev1.Pod {
	out := map[string]*corev1.Pod{}
	out["trainer-0"] = createPod(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "trainer-0", Namespace: "ml-team", Annotations: map[string]string{"example.com/api-token": "tok-123"}},
		Spec: corev1.PodSpec{
			NodeName:       "h100-a",
			InitContainers: []corev1.Container{gpuContainer("warmup", corev1.ResourceList{"nvidia.com/gpu": q("1")}, corev1.EnvVar{Name: "HF_TOKEN", Value: "hf_initsecret"})},
			Containers: []corev1.Container{gpuContainer("trainer", corev1.ResourceList{"nvidia.com/gpu": q("4")},
				corev1.EnvVar{Name: "HF_TOKEN", Value: "hf_livesecret"}, corev1.EnvVar{Name: "WANDB_URL", Value: "https://user:pw123@wandb.example.com"}, corev1.EnvVar{Name: "EPOCHS", Value: "3"})},
		},
	}, func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "trainer", ContainerID: "containerd://" + trainerCID, Ready: true}}
	})
	out["infer-0"] = createPod(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "infer-0", Namespace: "ml-team"},
		Spec:       corev1.PodSpec{NodeName: "h100-a", Containers: []corev1.Container{gpuContainer("server", corev1.ResourceList{"nvidia.com/gpu": q("1")})}},
	}, nil)
	out["mig-job"] = createPod(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "mig-job", Namespace: "ml-team"},
		Spec: corev1.PodSpec{NodeName: "h100-mig", Containers: []corev1.Container{
			gpuContainer("a", corev1.ResourceList{"nvidia.com/mig-3g.40gb": q("1")}), gpuContainer("b", corev1.ResourceList{"nvidia.com/mig-1g.10gb": q("2")}),
		}},
	}, nil)
	out["vgpu-0"] = createPod(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "vgpu-0", Namespace: "hami-users", Annotations: map[string]string{cluster.AnnotationHAMiUsed: "GPU-0aa1,NVIDIA,20000,30:GPU-0aa2,NVIDIA,10000,0:;GPU-0aa1,NVIDIA,4000,10:;"}},
		Spec: corev1.PodSpec{NodeName: "hami-a", Containers: []corev1.Container{
			gpuContainer("main", corev1.ResourceList{"nvidia.com/gpu": q("2"), "nvidia.com/gpumem": q("30000")}),
			gpuContainer("sidecar", corev1.ResourceList{"nvidia.com/gpu": q("1"), "nvidia.com/gpumem": q("4000")}),
		}},
	}, nil)
	out["vgpu-bad"] = createPod(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "vgpu-bad", Namespace: "hami-users", Annotations: map[string]string{cluster.AnnotationHAMiUsed: "GPU-0aa1,NVIDIA,lots"}},
		Spec:       corev1.PodSpec{NodeName: "hami-a", Containers: []corev1.Container{gpuContainer("main", corev1.ResourceList{"nvidia.com/gpu": q("1")})}},
	}, nil)
	out["done"] = createPod(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "finished", Namespace: "ml-team"},
		Spec:       corev1.PodSpec{NodeName: "a100-a", Containers: []corev1.Container{gpuContainer("x", corev1.ResourceList{"nvidia.com/gpu": q("8")})}},
	}, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })
	out["web"] = createPod(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ml-team"},
		Spec:       corev1.PodSpec{NodeName: "h100-a", Containers: []corev1.Container{{Name: "nginx", Image: "nginx"}}},
	}, nil)
	return out
}

func createQuotas(ctx context.Context) {
	for _, rq := range []*corev1.ResourceQuota{
		{ObjectMeta: metav1.ObjectMeta{Name: "gpu", Namespace: "ml-team"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"requests.nvidia.com/gpu": q("16"), "limits.nvidia.com/gpu": q("16"), "pods": q("50")}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "vgpu", Namespace: "hami-users"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"limits.nvidia.com/gpumem": q("40000")}}},
	} {
		created := must(clientset.CoreV1().ResourceQuotas(rq.Namespace).Create(ctx, rq, metav1.CreateOptions{}))
		// No quota controller runs in envtest; record usage as the controller would.
		created.Status.Hard = created.Spec.Hard
		created.Status.Used = corev1.ResourceList{"requests.nvidia.com/gpu": q("5"), "limits.nvidia.com/gpu": q("5")}
		if rq.Namespace == "hami-users" {
			created.Status.Used = corev1.ResourceList{"limits.nvidia.com/gpumem": q("34000"), "requests.nvidia.com/gpu": q("4")}
		}
		must(clientset.CoreV1().ResourceQuotas(rq.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}))
	}
}

// kubelet stands in for the kubelet's PodResources service, which cannot run here.
type kubelet struct {
	podresourcesv1.UnimplementedPodResourcesListerServer
	resp *podresourcesv1.ListPodResourcesResponse
}

// List answers with the configured allocations.
func (k *kubelet) List(context.Context, *podresourcesv1.ListPodResourcesRequest) (*podresourcesv1.ListPodResourcesResponse, error) {
	return k.resp, nil
}

// serveKubelet serves resp from a real gRPC PodResources server on a unix socket under procRoot
// and returns the socket's path.
func serveKubelet(resp *podresourcesv1.ListPodResourcesResponse) string {
	sock := filepath.Join(procRoot, "kubelet.sock")
	lis := must(net.Listen("unix", sock))
	srv := grpc.NewServer()
	podresourcesv1.RegisterPodResourcesListerServer(srv, &kubelet{resp: resp})
	go func() { _ = srv.Serve(lis) }()
	return sock
}

// startAgent runs a real agent HTTP server on loopback for node, backed by a fake scenario and
// authenticating callers with the API server's TokenReview, and registers its pod. A non-empty
// kubeletSock is the PodResources socket the agent asks.
func startAgent(ctx context.Context, node, scenario, kubeletSock string) {
	c, fn, err := fake.New(scenario)
	if err != nil {
		panic(err)
	}
	fakeNodes[node] = fn
	klog := fake.KernelLog(scenario)
	svc := &agent.Service{
		Collector: c,
		Catalog:   xid.MustLoad(),
		KernelLog: func() (xid.Log, error) { return xid.ParseLog(strings.NewReader(klog), fake.Boot) },
		Procs:     &procmap.Mapper{Root: procRoot},
		PodResources: func() agent.Allocator {
			if kubeletSock == "" {
				return nil
			}
			return &podresources.Client{Socket: kubeletSock}
		}(),
		Kill: func(pid int) error {
			killedMu.Lock()
			defer killedMu.Unlock()
			killed[pid] = true
			return nil
		},
	}
	h := agent.NewHandler(svc, agent.HandlerOptions{
		Auth:     &agent.TokenReviewAuthenticator{Client: clientset, Audiences: []string{agentAudience}, Allowed: []string{serverUser}},
		Operator: true,
		Log:      slog.New(slog.DiscardHandler),
	})
	srv := httptest.NewServer(h)
	agentURLs[node] = srv.URL
	u := must(url.Parse(srv.URL))
	port := must(strconv.Atoi(u.Port()))
	createPod(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "gpu-mcp-agent-" + node, Namespace: agentNS, Labels: map[string]string{"app.kubernetes.io/name": "gpu-mcp-agent"}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{
			Name: "agent", Image: "toolmesh/gpu-mcp-server", Ports: []corev1.ContainerPort{{Name: "agent", ContainerPort: int32(port)}},
		}}},
	}, func(p *corev1.Pod) {
		p.Status.PodIP = "127.0.0.1"
		p.Status.PodIPs = []corev1.PodIP{{IP: "127.0.0.1"}}
	})
}
