package gpumcp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/toolmesh/toolmesh/internal/gpu"
	"github.com/toolmesh/toolmesh/internal/gpu/agent"
	"github.com/toolmesh/toolmesh/internal/gpu/cluster"
	"github.com/toolmesh/toolmesh/internal/gpu/fake"
	"github.com/toolmesh/toolmesh/internal/gpu/prom"
)

var readTools = []string{
	"analyze_xid_errors", "describe_gpu_node", "get_gpu_health", "get_gpu_inventory", "get_gpu_metrics", "get_gpu_telemetry",
	"get_quota_usage", "inspect_topology", "list_gpu_nodes", "list_gpu_pods", "list_gpu_processes", "snapshot_ecc",
}

var operatorTools = []string{"cordon_gpu_node", "drain_gpu_node", "kill_gpu_process", "reset_gpu"}

func connect(t testing.TB, opts Options) *mcp.ClientSession {
	t.Helper()
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := NewServer(opts).Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close(); _ = ss.Wait() })
	return cs
}

// call runs a tool; it fails the test on a protocol error and returns the decoded output or the
// tool error text.
func call[T any](t testing.TB, cs *mcp.ClientSession, name string, args map[string]any) (T, string) {
	t.Helper()
	var out T
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: protocol error: %v", name, err)
	}
	if res.IsError {
		var msg []string
		for _, c := range res.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				msg = append(msg, tc.Text)
			}
		}
		return out, strings.Join(msg, "\n")
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: decode %s: %v", name, b, err)
	}
	return out, ""
}

func operatorOptions() Options {
	o := baseOptions
	o.Mode = ModeOperator
	return o
}

func TestToolsExistPerModeWithAnnotations(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"read-only", baseOptions, readTools},
		{"operator", operatorOptions(), append(append([]string{}, readTools...), operatorTools...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := connect(t, tt.opts).ListTools(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tool := range res.Tools {
				names = append(names, tool.Name)
				a := tool.Annotations
				if a == nil || a.Title == "" || a.DestructiveHint == nil || tool.OutputSchema == nil || tool.InputSchema == nil {
					t.Fatalf("tool %s lacks annotations or schemas: %+v", tool.Name, a)
				}
				isOp := slices.Contains(operatorTools, tool.Name)
				if a.ReadOnlyHint == isOp || *a.DestructiveHint != isOp {
					t.Fatalf("tool %s: readOnlyHint=%v destructiveHint=%v", tool.Name, a.ReadOnlyHint, *a.DestructiveHint)
				}
			}
			slices.Sort(names)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(names, want) {
				t.Fatalf("tools = %v, want %v", names, want)
			}
		})
	}
}

func TestListGPUNodes(t *testing.T) {
	out, errText := call[ListNodesOutput](t, connect(t, baseOptions), "list_gpu_nodes", nil)
	if errText != "" {
		t.Fatal(errText)
	}
	byName := map[string]cluster.GPUNode{}
	for _, n := range out.Nodes {
		byName[n.Name] = n
	}
	if _, ok := byName["cpu-only"]; ok || len(out.Nodes) != 5 {
		t.Fatalf("nodes = %v", out.Nodes)
	}
	tests := []struct {
		node, resource                   string
		capacity, allocatable, allocated string
	}{
		{"h100-a", "nvidia.com/gpu", "8", "8", "5"}, // trainer: max(init 1, 4) + infer 1
		{"a100-a", "nvidia.com/gpu", "8", "8", "0"}, // the finished pod holds nothing
		{"h100-mig", "nvidia.com/mig-1g.10gb", "2", "2", "2"},
		{"h100-mig", "nvidia.com/mig-3g.40gb", "2", "2", "1"},
		{"h100-mig", "nvidia.com/mig-7g.80gb", "1", "1", "0"},
		{"hami-a", "nvidia.com/gpumem", "163840", "163840", "34k"},
		{"hami-a", "nvidia.com/gpucores", "200", "200", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.node+"/"+tt.resource, func(t *testing.T) {
			got := byName[tt.node].Resources[tt.resource]
			if got.Capacity != tt.capacity || got.Allocatable != tt.allocatable || got.Allocated != tt.allocated {
				t.Fatalf("%s %s = %+v", tt.node, tt.resource, got)
			}
		})
	}
	h := byName["h100-a"]
	if h.Product != "NVIDIA-H100-80GB-HBM3" || h.Family != "hopper" || h.Count != "8" || h.MemoryMiB != "81559" ||
		!slices.Contains(h.Taints, "nvidia.com/gpu=present:NoSchedule") || h.Conditions[0].Type != "Ready" {
		t.Fatalf("h100-a = %+v", h)
	}
	if byName["h100-mig"].MIGStrategy != "mixed" || byName["a100-a"].Family != "ampere" {
		t.Fatalf("GFD labels wrong: %+v %+v", byName["h100-mig"], byName["a100-a"])
	}
}

func TestListGPUPodsRedactsAndParsesHAMi(t *testing.T) {
	cs := connect(t, baseOptions)
	out, errText := call[ListPodsOutput](t, cs, "list_gpu_pods", map[string]any{"namespace": "ml-team"})
	if errText != "" {
		t.Fatal(errText)
	}
	raw, _ := json.Marshal(out)
	for _, secret := range []string{"hf_livesecret", "hf_initsecret", "pw123", "tok-123"} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("secret %q leaked: %s", secret, raw)
		}
	}
	names := []string{}
	for _, p := range out.Pods {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"finished", "infer-0", "mig-job", "trainer-0"}) {
		t.Fatalf("pods = %v", names)
	}
	trainer := out.Pods[3]
	if len(trainer.Containers) != 2 || trainer.Containers[0].Kind != "init" || trainer.Containers[1].Requests["nvidia.com/gpu"] != "4" {
		t.Fatalf("trainer = %+v", trainer)
	}
	if trainer.Containers[1].Env[2].Value != "3" {
		t.Fatalf("harmless env redacted: %+v", trainer.Containers[1].Env)
	}

	hami, errText := call[ListPodsOutput](t, cs, "list_gpu_pods", map[string]any{"node": "hami-a"})
	if errText != "" {
		t.Fatal(errText)
	}
	tests := []struct {
		pod        string
		wantErr    bool
		mainDevs   int
		sidecarMem int
	}{
		{"vgpu-0", false, 2, 4000},
		{"vgpu-bad", true, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.pod, func(t *testing.T) {
			idx := slices.IndexFunc(hami.Pods, func(p cluster.GPUPod) bool { return p.Name == tt.pod })
			if idx < 0 {
				t.Fatalf("pod %s missing", tt.pod)
			}
			p := hami.Pods[idx]
			if (p.HAMiError != "") != tt.wantErr {
				t.Fatalf("hamiError = %q", p.HAMiError)
			}
			if tt.wantErr {
				return
			}
			if len(p.Containers[0].HAMi) != tt.mainDevs || p.Containers[1].HAMi[0].UsedMemMiB != tt.sidecarMem || p.Containers[0].HAMi[0].UsedCores != 30 {
				t.Fatalf("hami = %+v", p.Containers)
			}
		})
	}
}

func TestQuotaUsage(t *testing.T) {
	cs := connect(t, baseOptions)
	out, errText := call[QuotaOutput](t, cs, "get_quota_usage", nil)
	if errText != "" {
		t.Fatal(errText)
	}
	got := map[string]cluster.QuotaResource{}
	for _, qu := range out.Quotas {
		for _, r := range qu.Resources {
			got[qu.Namespace+"/"+r.Resource] = r
		}
	}
	tests := []struct {
		key        string
		limited    bool
		hard, used string
	}{
		{"ml-team/requests.nvidia.com/gpu", true, "16", "5"},
		{"hami-users/limits.nvidia.com/gpumem", true, "40k", "34k"},
		{"hami-users/requests.nvidia.com/gpu", false, "", "4"}, // used but not limited: no quota, not zero
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			r, ok := got[tt.key]
			if !ok || r.Limited != tt.limited || r.Hard != tt.hard || r.Used != tt.used {
				t.Fatalf("%s = %+v (present %v)", tt.key, r, ok)
			}
		})
	}
	if _, ok := got["ml-team/pods"]; ok {
		t.Fatalf("non-GPU quota resources listed")
	}
	if _, errText := call[QuotaOutput](t, cs, "get_quota_usage", map[string]any{"namespace": "nope"}); !strings.Contains(errText, `namespace "nope": not found`) {
		t.Fatalf("unknown namespace error = %q", errText)
	}
	empty, errText := call[QuotaOutput](t, cs, "get_quota_usage", map[string]any{"namespace": "empty-team"})
	if errText != "" || len(empty.Quotas) != 0 {
		t.Fatalf("empty-team = %+v %q", empty, errText)
	}
}

func TestDescribeGPUNode(t *testing.T) {
	cs := connect(t, baseOptions)
	tests := []struct {
		node      string
		wantErr   string
		wantHAMi  int
		hamiError bool
	}{
		{node: "hami-a", wantHAMi: 2},
		{node: "hami-broken", hamiError: true},
		{node: "h100-a"},
		{node: "cpu-only", wantErr: "has no NVIDIA GPUs"},
		{node: "ghost", wantErr: `node "ghost": not found`},
		{node: "", wantErr: "node is required"},
	}
	for _, tt := range tests {
		t.Run(tt.node, func(t *testing.T) {
			out, errText := call[cluster.NodeDetail](t, cs, "describe_gpu_node", map[string]any{"node": tt.node})
			if tt.wantErr != "" {
				if !strings.Contains(errText, tt.wantErr) {
					t.Fatalf("error = %q, want %q", errText, tt.wantErr)
				}
				return
			}
			if errText != "" {
				t.Fatal(errText)
			}
			if len(out.HAMiDevices) != tt.wantHAMi || (out.HAMiError != "") != tt.hamiError {
				t.Fatalf("hami = %+v %q", out.HAMiDevices, out.HAMiError)
			}
			if tt.node == "hami-a" && (out.HAMiDevices[0].DevMem != 81920 || out.HAMiDevices[1].Health) {
				t.Fatalf("hami devices = %+v", out.HAMiDevices)
			}
			if tt.node == "h100-a" && (out.Annotations["example.com/bmc-password"] != "[REDACTED]" || len(out.Pods) != 2) {
				t.Fatalf("h100-a annotations %v pods %d", out.Annotations, len(out.Pods))
			}
		})
	}
}

func TestNodeToolsFanOutToRealAgents(t *testing.T) {
	cs := connect(t, baseOptions)
	health, errText := call[HealthFleet](t, cs, "get_gpu_health", nil)
	if errText != "" {
		t.Fatal(errText)
	}
	byNode := map[string]NodeResult[gpu.NodeHealth]{}
	for _, n := range health.Nodes {
		byNode[n.Node] = n
	}
	if len(health.Nodes) != 5 || health.Verdict != gpu.VerdictResetGPU {
		t.Fatalf("fleet verdict %s over %d nodes", health.Verdict, len(health.Nodes))
	}
	if r := byNode["h100-a"].Result; r == nil || r.Verdict != gpu.VerdictResetGPU || r.GPUs[3].Verdict != gpu.VerdictRestartApp {
		t.Fatalf("h100-a = %+v", byNode["h100-a"])
	}
	if r := byNode["h100-mig"].Result; r == nil || r.Verdict != gpu.VerdictHealthy {
		t.Fatalf("h100-mig = %+v", byNode["h100-mig"])
	}
	if e := byNode["a100-a"].Error; !strings.Contains(e, `no running GPU agent on node "a100-a"`) {
		t.Fatalf("a100-a error = %q", e)
	}

	tests := []struct {
		name, tool string
		args       map[string]any
		check      func(t *testing.T, raw json.RawMessage)
		wantErr    string
	}{
		{name: "inventory MIG", tool: "get_gpu_inventory", args: map[string]any{"node": "h100-mig"}, check: func(t *testing.T, raw json.RawMessage) {
			var f Fleet[gpu.Inventory]
			_ = json.Unmarshal(raw, &f)
			d := f.Nodes[0].Result.Devices
			if len(d) != 8 || !d[0].MIGEnabled || len(d[0].MIGDevices) != 4 || d[0].MIGDevices[1].Profile != "2g.20gb" || d[4].MIGEnabled {
				t.Fatalf("inventory = %+v", d)
			}
		}},
		{name: "telemetry", tool: "get_gpu_telemetry", args: map[string]any{"node": "h100-a"}, check: func(t *testing.T, raw json.RawMessage) {
			var f Fleet[GPUList[gpu.Telemetry]]
			_ = json.Unmarshal(raw, &f)
			if g := f.Nodes[0].Result.GPUs[3]; g.PowerLimitW != 700 || g.SlowdownTemperatureC != 90 {
				t.Fatalf("telemetry = %+v", g)
			}
		}},
		{name: "topology", tool: "inspect_topology", args: map[string]any{"node": "h100-a"}, check: func(t *testing.T, raw json.RawMessage) {
			var f Fleet[gpu.Topology]
			_ = json.Unmarshal(raw, &f)
			if len(f.Nodes[0].Result.Paths) != 28 || f.Nodes[0].Result.GPUs[0].Links[0].RemoteDeviceType != "switch" {
				t.Fatalf("topology = %+v", f.Nodes[0].Result.Paths[:1])
			}
		}},
		{name: "ecc", tool: "snapshot_ecc", args: map[string]any{"node": "h100-a"}, check: func(t *testing.T, raw json.RawMessage) {
			var f Fleet[GPUList[gpu.ECC]]
			_ = json.Unmarshal(raw, &f)
			if g := f.Nodes[0].Result.GPUs[5]; g.VolatileUncorrected != 1 || !g.RowRemappingSupported {
				t.Fatalf("ecc = %+v", g)
			}
		}},
		{name: "unknown node", tool: "get_gpu_inventory", args: map[string]any{"node": "ghost"}, wantErr: `node "ghost" is not a GPU node`},
		{name: "node without agent", tool: "get_gpu_telemetry", args: map[string]any{"node": "a100-a"}, wantErr: "no running GPU agent"},
		{name: "bad since", tool: "analyze_xid_errors", args: map[string]any{"node": "h100-a", "since": "yesterday"}, wantErr: "neither an RFC 3339 time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, errText := call[json.RawMessage](t, cs, tt.tool, tt.args)
			if tt.wantErr != "" {
				if !strings.Contains(errText, tt.wantErr) {
					t.Fatalf("error = %q, want %q", errText, tt.wantErr)
				}
				return
			}
			if errText != "" {
				t.Fatal(errText)
			}
			tt.check(t, raw)
		})
	}
}

func TestProcessesAndXIDsNameTheirPods(t *testing.T) {
	cs := connect(t, baseOptions)
	procs, errText := call[Fleet[ProcessList]](t, cs, "list_gpu_processes", map[string]any{"node": "h100-a"})
	if errText != "" {
		t.Fatal(errText)
	}
	p := procs.Nodes[0].Result.Processes
	if len(p) != 2 || p[0].PID != 51234 || p[0].Name != "python3" || p[0].Owner == nil ||
		p[0].Owner.Namespace != "ml-team" || p[0].Owner.Name != "trainer-0" || p[0].Owner.Container != "trainer" || p[1].Owner.Name != "infer-0" {
		t.Fatalf("processes = %+v / %+v", p, p[0].Owner)
	}
	trainer := gpu.PodRef{Namespace: "ml-team", Name: "trainer-0", Container: "trainer"}
	if len(p[0].AllocatedTo) != 1 || p[0].AllocatedTo[0] != trainer || p[0].AllocationMismatch || len(p[0].Notes) != 0 {
		t.Errorf("trainer-0's process on its own GPU: %+v", p[0])
	}
	if len(p[1].AllocatedTo) != 1 || p[1].AllocatedTo[0] != trainer || !p[1].AllocationMismatch || len(p[1].Notes) != 1 ||
		!strings.Contains(p[1].Notes[0], "pod ml-team/infer-0 runs on GPU "+fake.UUID(5)+", which the kubelet allocated to ml-team/trainer-0/trainer") {
		t.Errorf("infer-0's process on trainer-0's GPU is not flagged: %+v", p[1])
	}
	tests := []struct {
		name    string
		args    map[string]any
		code    int
		wantPod string
		count   int
	}{
		{"xid 13 by pid", map[string]any{"node": "h100-a"}, 13, "trainer-0", 12},
		{"xid 48 by gpu", map[string]any{"node": "h100-a", "gpu": "5"}, 48, "infer-0", 2},
		{"since one hour", map[string]any{"node": "h100-a", "since": "1h", "gpu": fake.UUID(3)}, 31, "trainer-0", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errText := call[Fleet[agent.XIDReport]](t, cs, "analyze_xid_errors", tt.args)
			if errText != "" {
				t.Fatal(errText)
			}
			rep := out.Nodes[0].Result
			if !strings.HasPrefix(rep.Catalog.Source, "https://docs.nvidia.com/") {
				t.Fatalf("catalog = %+v", rep.Catalog)
			}
			i := slices.IndexFunc(rep.XIDs, func(x gpu.XIDSummary) bool { return x.Code == tt.code })
			if i < 0 {
				t.Fatalf("Xid %d missing: %+v", tt.code, rep.XIDs)
			}
			x := rep.XIDs[i]
			if x.Count != tt.count || len(x.Pods) != 1 || x.Pods[0].Name != tt.wantPod {
				t.Fatalf("Xid %d = count %d pods %+v", tt.code, x.Count, x.Pods)
			}
		})
	}
}

func TestAgentAuthUsesTokenReview(t *testing.T) {
	tests := []struct {
		name  string
		token string
		want  int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"garbage token", "not-a-jwt", http.StatusUnauthorized},
		{"valid token of another service account", strangerTok, http.StatusForbidden},
		{"server's token", serverToken, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, agentURLs["h100-a"]+agent.PathInventory, nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	o := baseOptions
	o.AgentClient = &agent.Client{Token: func() (string, error) { return strangerTok, nil }}
	if _, errText := call[Fleet[gpu.Inventory]](t, connect(t, o), "get_gpu_inventory", map[string]any{"node": "h100-a"}); !strings.Contains(errText, "may not call the GPU agent") {
		t.Fatalf("forbidden caller error = %q", errText)
	}
}

func TestOperatorTools(t *testing.T) {
	cs := connect(t, operatorOptions())
	ctx := context.Background()
	tests := []struct {
		name, tool string
		args       map[string]any
		wantErr    string
		wantMsg    string
	}{
		{name: "confirm missing", tool: "cordon_gpu_node", args: map[string]any{"node": "h100-mig", "reason": "maintenance"}, wantErr: `missing properties: ["confirm"]`},
		{name: "confirm false", tool: "cordon_gpu_node", args: map[string]any{"node": "h100-mig", "confirm": false, "reason": "maintenance"}, wantErr: "set confirm to true"},
		{name: "reason missing", tool: "kill_gpu_process", args: map[string]any{"node": "h100-a", "pid": 51300, "confirm": true}, wantErr: `missing properties: ["reason"]`},
		{name: "reason empty", tool: "reset_gpu", args: map[string]any{"node": "h100-a", "gpu": "0", "confirm": true, "reason": " "}, wantErr: "give a reason"},
		{name: "reset refused while busy", tool: "reset_gpu", args: map[string]any{"node": "h100-a", "gpu": "3", "confirm": true, "reason": "xid storm"}, wantErr: "refusing to reset GPU " + fake.UUID(3) + " while processes [51234] run"},
		{name: "reset idle gpu", tool: "reset_gpu", args: map[string]any{"node": "h100-a", "gpu": "0", "confirm": true, "reason": "clear state"}, wantMsg: "reset GPU " + fake.UUID(0)},
		{name: "reset unknown gpu", tool: "reset_gpu", args: map[string]any{"node": "h100-a", "gpu": "9", "confirm": true, "reason": "typo"}, wantErr: `has no GPU "9"`},
		{name: "kill non-gpu pid", tool: "kill_gpu_process", args: map[string]any{"node": "h100-a", "pid": 4321, "confirm": true, "reason": "stuck"}, wantErr: "not a GPU process"},
		{name: "kill gpu pid", tool: "kill_gpu_process", args: map[string]any{"node": "h100-a", "pid": 51300, "confirm": true, "reason": "stuck"}, wantMsg: "killed pid 51300"},
		{name: "cordon", tool: "cordon_gpu_node", args: map[string]any{"node": "h100-mig", "confirm": true, "reason": "maintenance"}, wantMsg: "cordoned h100-mig"},
		{name: "cordon again", tool: "cordon_gpu_node", args: map[string]any{"node": "h100-mig", "confirm": true, "reason": "maintenance"}, wantMsg: "already cordoned"},
		{name: "cordon cpu node", tool: "cordon_gpu_node", args: map[string]any{"node": "cpu-only", "confirm": true, "reason": "maintenance"}, wantErr: "not a GPU node"},
		{name: "drain gpu pods", tool: "drain_gpu_node", args: map[string]any{"node": "h100-mig", "gpuPodsOnly": true, "confirm": true, "reason": "rma of gpu 3"}, wantMsg: "2 pods considered, 0 not evicted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errText := call[ActionOutput](t, cs, tt.tool, tt.args)
			if tt.wantErr != "" {
				if !strings.Contains(errText, tt.wantErr) {
					t.Fatalf("error = %q, want %q", errText, tt.wantErr)
				}
				return
			}
			if errText != "" || !strings.Contains(out.Message, tt.wantMsg) {
				t.Fatalf("out = %+v, err %q; want %q", out, errText, tt.wantMsg)
			}
		})
	}
	n, err := clientset.CoreV1().Nodes().Get(ctx, "h100-mig", metav1.GetOptions{})
	if err != nil || !n.Spec.Unschedulable {
		t.Fatalf("h100-mig not cordoned: %v", err)
	}
	if got := fakeNodes["h100-a"].Resets(); !slices.Equal(got, []string{fake.UUID(0)}) {
		t.Fatalf("resets = %v", got)
	}
	killedMu.Lock()
	defer killedMu.Unlock()
	if !killed[51300] || len(killed) != 1 {
		t.Fatalf("killed = %v", killed)
	}
}

func TestGetGPUMetrics(t *testing.T) {
	promSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("query") != `DCGM_FI_DEV_GPU_TEMP{Hostname="h100-a"}` {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"unexpected"}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"gpu":"0","Hostname":"h100-a"},"value":[1768471200,"58"]}]}}`))
	}))
	defer promSrv.Close()
	withProm := baseOptions
	withProm.Prometheus = &prom.Client{BaseURL: promSrv.URL}
	down := baseOptions
	down.Prometheus = &prom.Client{BaseURL: "http://127.0.0.1:1"}
	tests := []struct {
		name    string
		opts    Options
		args    map[string]any
		wantErr string
	}{
		{"instant", withProm, map[string]any{"metric": "DCGM_FI_DEV_GPU_TEMP", "labels": map[string]any{"Hostname": "h100-a"}}, ""},
		{"not configured", baseOptions, map[string]any{"metric": "DCGM_FI_DEV_GPU_TEMP"}, "--prometheus-url"},
		{"prometheus down", down, map[string]any{"metric": "DCGM_FI_DEV_GPU_TEMP"}, "query prometheus"},
		{"metric not allowed", withProm, map[string]any{"metric": "process_open_fds"}, "not allowed"},
		{"label injection", withProm, map[string]any{"metric": "DCGM_FI_DEV_GPU_TEMP", "labels": map[string]any{"gpu": `0"}or vector(1)`}}, "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := connect(t, tt.opts)
			out, errText := call[MetricsOutput](t, cs, "get_gpu_metrics", tt.args)
			if tt.wantErr != "" {
				if !strings.Contains(errText, tt.wantErr) {
					t.Fatalf("error = %q, want %q", errText, tt.wantErr)
				}
				// The server stays up after a tool error.
				if _, e := call[ListNodesOutput](t, cs, "list_gpu_nodes", nil); e != "" {
					t.Fatalf("server unusable after error: %s", e)
				}
				return
			}
			if errText != "" || len(out.Series) != 1 || out.Series[0].Samples[0].Value != 58 {
				t.Fatalf("out = %+v %q", out, errText)
			}
		})
	}
}
