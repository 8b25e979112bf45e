package gpumcp

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolmesh/toolmesh/internal/gpu"
	"github.com/toolmesh/toolmesh/internal/gpu/agent"
)

// agentTimeout bounds one agent call.
const agentTimeout = 20 * time.Second

// NodeInput names a node, or none for every GPU node.
type NodeInput struct {
	// Node is a GPU node name; empty asks every GPU node in parallel.
	Node string `json:"node,omitempty" jsonschema:"GPU node name; omit for all GPU nodes"`
}

// XIDInput narrows analyze_xid_errors.
type XIDInput struct {
	// Node is a GPU node name; empty asks every GPU node.
	Node string `json:"node,omitempty" jsonschema:"GPU node name; omit for all GPU nodes"`
	// Since keeps Xids at or after this time: RFC 3339 or a duration back from now such as 2h.
	Since string `json:"since,omitempty" jsonschema:"RFC 3339 time or a duration such as 30m or 24h"`
	// GPU keeps one GPU: UUID, index or PCI address.
	GPU string `json:"gpu,omitempty" jsonschema:"GPU UUID, NVML index or PCI address"`
}

// NodeResult is one node's answer, or why there is none.
type NodeResult[T any] struct {
	// Node is the node name.
	Node string `json:"node" jsonschema:"node name"`
	// Error says why this node did not answer.
	Error string `json:"error,omitempty" jsonschema:"why this node did not answer"`
	// Result is the node's answer.
	Result *T `json:"result,omitempty" jsonschema:"the node's answer"`
}

// Fleet is a node tool's output: one result per node asked.
type Fleet[T any] struct {
	// Nodes are the per-node results.
	Nodes []NodeResult[T] `json:"nodes" jsonschema:"one result per node"`
}

// HealthFleet is get_gpu_health's output.
type HealthFleet struct {
	// Verdict is the most severe verdict across the nodes that answered.
	Verdict gpu.Verdict `json:"verdict" jsonschema:"most severe verdict across nodes"`
	// Nodes are the per-node results.
	Nodes []NodeResult[gpu.NodeHealth] `json:"nodes" jsonschema:"one result per node"`
}

// GPUList wraps a per-GPU list.
type GPUList[T any] struct {
	// GPUs are the per-GPU entries.
	GPUs []T `json:"gpus" jsonschema:"per-GPU entries"`
}

// ProcessList wraps GPU processes.
type ProcessList struct {
	// Processes are the GPU processes with their owning pods.
	Processes []gpu.Process `json:"processes" jsonschema:"GPU processes with owning pod and container"`
}

func (t *tools) addNodeTools(s *mcp.Server) {
	add(s, &mcp.Tool{Name: "get_gpu_inventory", Description: "GPU hardware map per node from NVML: driver, model, UUID, PCI bus id, memory, compute capability and MIG layout.", Annotations: readOnly("GPU inventory")},
		func(ctx context.Context, in NodeInput) (Fleet[gpu.Inventory], error) {
			return nodeGet[gpu.Inventory](ctx, t, in.Node, agent.PathInventory, nil)
		})
	add(s, &mcp.Tool{Name: "get_gpu_telemetry", Description: "Live GPU state per node: temperature vs slowdown/shutdown thresholds, power vs enforced limit, utilisation, clocks and clock event (throttle) reasons.", Annotations: readOnly("GPU telemetry")},
		func(ctx context.Context, in NodeInput) (Fleet[GPUList[gpu.Telemetry]], error) {
			return wrapList[gpu.Telemetry](nodeGet[[]gpu.Telemetry](ctx, t, in.Node, agent.PathTelemetry, nil))
		})
	add(s, &mcp.Tool{Name: "inspect_topology", Description: "GPU interconnect per node from NVML: PCIe common ancestor and P2P status per GPU pair, NVLink state, remote end and error counters. Peers come from NVML, never from bus numbers.", Annotations: readOnly("GPU topology")},
		func(ctx context.Context, in NodeInput) (Fleet[gpu.Topology], error) {
			return nodeGet[gpu.Topology](ctx, t, in.Node, agent.PathTopology, nil)
		})
	add(s, &mcp.Tool{Name: "snapshot_ecc", Description: "ECC state per GPU: volatile and aggregate corrected/uncorrected errors, retired pages, remapped rows including pending and failed remaps.", Annotations: readOnly("ECC snapshot")},
		func(ctx context.Context, in NodeInput) (Fleet[GPUList[gpu.ECC]], error) {
			return wrapList[gpu.ECC](nodeGet[[]gpu.ECC](ctx, t, in.Node, agent.PathECC, nil))
		})
	add(s, &mcp.Tool{Name: "list_gpu_processes", Description: "Processes holding GPUs per node: PID, GPU, memory, MIG instance and the pod/container owning it (from /proc/<pid>/cgroup), the pods the kubelet allocated the GPU to (PodResources API) and any mismatch between them.", Annotations: readOnly("GPU processes")},
		t.processes)
	add(s, &mcp.Tool{Name: "analyze_xid_errors", Description: "Xid errors per node from NVML events and the kernel log, de-duplicated, with NVIDIA's catalogue mnemonic, severity and immediate action, and the pods affected.", Annotations: readOnly("Analyze Xid errors")},
		t.xids)
	add(s, &mcp.Tool{Name: "get_gpu_health", Description: "One verdict per GPU and node (healthy, restart_app, reset_gpu, reboot_node, drain, rma) from NVML's recovery action, remapped rows, retired pages, Xids and throttling, with the evidence.", Annotations: readOnly("GPU health")},
		func(ctx context.Context, in NodeInput) (HealthFleet, error) {
			f, err := nodeGet[gpu.NodeHealth](ctx, t, in.Node, agent.PathHealth, nil)
			out := HealthFleet{Verdict: gpu.VerdictHealthy, Nodes: f.Nodes}
			for _, n := range f.Nodes {
				if n.Result != nil {
					out.Verdict = gpu.Worse(out.Verdict, n.Result.Verdict)
				}
			}
			return out, err
		})
}

func wrapList[T any](f Fleet[[]T], err error) (Fleet[GPUList[T]], error) {
	out := Fleet[GPUList[T]]{Nodes: make([]NodeResult[GPUList[T]], 0, len(f.Nodes))}
	for _, n := range f.Nodes {
		r := NodeResult[GPUList[T]]{Node: n.Node, Error: n.Error}
		if n.Result != nil {
			r.Result = &GPUList[T]{GPUs: *n.Result}
		}
		out.Nodes = append(out.Nodes, r)
	}
	return out, err
}

// targets returns the node asked for, checked to be a GPU node, or every GPU node.
func (t *tools) targets(ctx context.Context, node string) ([]string, error) {
	names, err := t.Cluster.GPUNodeNames(ctx)
	if err != nil {
		return nil, err
	}
	if node == "" {
		if len(names) == 0 {
			return nil, fmt.Errorf("the cluster has no GPU nodes")
		}
		return names, nil
	}
	if !slices.Contains(names, node) {
		return nil, fmt.Errorf("node %q is not a GPU node in this cluster (GPU nodes: %s)", node, strings.Join(names, ", "))
	}
	return []string{node}, nil
}

// fanOut asks each node's agent in parallel. When a single node was named, its failure is the
// tool's error; across many nodes, failures are reported per node.
func fanOut[T any](ctx context.Context, t *tools, node string, fetch func(ctx context.Context, node, base string) (T, error)) (Fleet[T], error) {
	nodes, err := t.targets(ctx, node)
	if err != nil {
		return Fleet[T]{}, err
	}
	out := Fleet[T]{Nodes: make([]NodeResult[T], len(nodes))}
	sem := make(chan struct{}, t.Concurrency)
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, agentTimeout)
			defer cancel()
			out.Nodes[i] = NodeResult[T]{Node: n}
			base, err := t.Agents.Endpoint(cctx, n)
			if err != nil {
				out.Nodes[i].Error = err.Error()
				return
			}
			v, err := fetch(cctx, n, base)
			if err != nil {
				out.Nodes[i].Error = fmt.Sprintf("agent on %s: %v", n, err)
				return
			}
			out.Nodes[i].Result = &v
		}()
	}
	wg.Wait()
	if node != "" && out.Nodes[0].Error != "" {
		return out, fmt.Errorf("%s", out.Nodes[0].Error)
	}
	return out, nil
}

func nodeGet[T any](ctx context.Context, t *tools, node, path string, q url.Values) (Fleet[T], error) {
	return fanOut(ctx, t, node, func(ctx context.Context, _ string, base string) (T, error) {
		var v T
		err := t.AgentClient.Get(ctx, base, path, q, &v)
		return v, err
	})
}

func (t *tools) processes(ctx context.Context, in NodeInput) (Fleet[ProcessList], error) {
	return fanOut(ctx, t, in.Node, func(ctx context.Context, node, base string) (ProcessList, error) {
		procs, err := t.nodeProcesses(ctx, node, base)
		return ProcessList{Processes: procs}, err
	})
}

// nodeProcesses fetches a node's GPU processes and names their pods from the API.
func (t *tools) nodeProcesses(ctx context.Context, node, base string) ([]gpu.Process, error) {
	var procs []gpu.Process
	if err := t.AgentClient.Get(ctx, base, agent.PathProcesses, nil, &procs); err != nil {
		return nil, err
	}
	pods, err := t.Cluster.PodsByUID(ctx, node)
	if err != nil {
		return nil, err
	}
	for i := range procs {
		o := procs[i].Owner
		if o == nil {
			continue
		}
		p, ok := pods[o.PodUID]
		if !ok {
			continue
		}
		o.Namespace, o.Name = p.Namespace, p.Name
		for _, cs := range append(append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...), p.Status.EphemeralContainerStatuses...) {
			if o.ContainerID != "" && strings.HasSuffix(cs.ContainerID, "://"+o.ContainerID) {
				o.Container = cs.Name
			}
		}
		gpu.CheckAllocation(&procs[i])
	}
	return procs, nil
}

func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("since %q is neither an RFC 3339 time nor a positive duration such as 2h", s)
	}
	return now.Add(-d), nil
}

func (t *tools) xids(ctx context.Context, in XIDInput) (Fleet[agent.XIDReport], error) {
	since, err := parseSince(in.Since, t.Now())
	if err != nil {
		return Fleet[agent.XIDReport]{}, err
	}
	q := url.Values{}
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339))
	}
	if in.GPU != "" {
		q.Set("gpu", in.GPU)
	}
	return fanOut(ctx, t, in.Node, func(ctx context.Context, node, base string) (agent.XIDReport, error) {
		var rep agent.XIDReport
		if err := t.AgentClient.Get(ctx, base, agent.PathXIDs, q, &rep); err != nil {
			return rep, err
		}
		procs, err := t.nodeProcesses(ctx, node, base)
		if err != nil {
			return rep, nil // the analysis stands without pod names
		}
		namePods(rep.XIDs, procs)
		return rep, nil
	})
}

// namePods names the pods behind each Xid: those owning the PIDs the driver printed, else those
// now holding the GPU.
func namePods(xids []gpu.XIDSummary, procs []gpu.Process) {
	byPID := map[int]gpu.PodRef{}
	byGPU := map[string][]gpu.PodRef{}
	for _, p := range procs {
		if p.Owner == nil || p.Owner.Name == "" {
			continue
		}
		byPID[p.PID] = *p.Owner
		if !slices.Contains(byGPU[p.GPUUUID], *p.Owner) {
			byGPU[p.GPUUUID] = append(byGPU[p.GPUUUID], *p.Owner)
		}
	}
	for i := range xids {
		for _, pid := range xids[i].PIDs {
			if ref, ok := byPID[pid]; ok && !slices.Contains(xids[i].Pods, ref) {
				xids[i].Pods = append(xids[i].Pods, ref)
			}
		}
		if len(xids[i].Pods) == 0 {
			xids[i].Pods = byGPU[xids[i].GPUUUID]
		}
	}
}
