package gpumcp

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolmesh/toolmesh/internal/gpu"
	"github.com/toolmesh/toolmesh/internal/gpu/agent"
	"github.com/toolmesh/toolmesh/internal/gpu/ops"
)

// Guard is what every operator action requires.
type Guard struct {
	// Confirm must be true.
	Confirm bool `json:"confirm" jsonschema:"must be true to act"`
	// Reason is recorded in the audit log.
	Reason string `json:"reason" jsonschema:"why; recorded in the audit log"`
}

// CordonInput names the node to cordon.
type CordonInput struct {
	Guard
	// Node is the GPU node.
	Node string `json:"node" jsonschema:"GPU node name"`
}

// DrainInput names the node to drain.
type DrainInput struct {
	Guard
	// Node is the GPU node.
	Node string `json:"node" jsonschema:"GPU node name"`
	// GPUPodsOnly evicts only pods that use NVIDIA GPUs.
	GPUPodsOnly bool `json:"gpuPodsOnly,omitempty" jsonschema:"evict only pods using NVIDIA GPUs"`
}

// KillInput names the process to kill.
type KillInput struct {
	Guard
	// Node is the GPU node.
	Node string `json:"node" jsonschema:"GPU node name"`
	// PID is a process NVML lists on one of the node's GPUs.
	PID int `json:"pid" jsonschema:"GPU process id as list_gpu_processes reports it"`
}

// ResetInput names the GPU to reset.
type ResetInput struct {
	Guard
	// Node is the GPU node.
	Node string `json:"node" jsonschema:"GPU node name"`
	// GPU is the GPU's UUID or NVML index.
	GPU string `json:"gpu" jsonschema:"GPU UUID or NVML index"`
}

// ActionOutput reports an operator action.
type ActionOutput struct {
	// Done is true when the action was carried out.
	Done bool `json:"done" jsonschema:"whether the action was carried out"`
	// Message describes what happened.
	Message string `json:"message" jsonschema:"what happened"`
	// Evictions lists per-pod drain outcomes.
	Evictions []ops.Eviction `json:"evictions,omitempty" jsonschema:"per-pod eviction outcomes"`
}

func (g Guard) check(tool string) error {
	if !g.Confirm {
		return fmt.Errorf("%s refused: set confirm to true to act", tool)
	}
	if len(strings.TrimSpace(g.Reason)) < 4 {
		return fmt.Errorf("%s refused: give a reason (it is audited)", tool)
	}
	return nil
}

func (t *tools) audit(ctx context.Context, tool, node, target, reason string) {
	t.Log.InfoContext(ctx, "Audit: operator action", "tool", tool, "node", node, "target", target, "reason", reason)
}

func (t *tools) addOperatorTools(s *mcp.Server) {
	add(s, &mcp.Tool{Name: "cordon_gpu_node", Description: "Mark a GPU node unschedulable. Requires confirm: true and a reason; audited.", Annotations: destructive("Cordon GPU node")}, t.cordon)
	add(s, &mcp.Tool{Name: "drain_gpu_node", Description: "Cordon a GPU node and evict its pods through the eviction API (PodDisruptionBudgets honoured; DaemonSet and static pods skipped). Requires confirm: true and a reason; audited.", Annotations: destructive("Drain GPU node")}, t.drain)
	add(s, &mcp.Tool{Name: "kill_gpu_process", Description: "SIGKILL a process holding a GPU on a node (only PIDs NVML lists). Requires confirm: true and a reason; audited.", Annotations: destructive("Kill GPU process")}, t.kill)
	add(s, &mcp.Tool{Name: "reset_gpu", Description: "Reset one GPU on a node; refused while any process runs on it. Requires confirm: true and a reason; audited.", Annotations: destructive("Reset GPU")}, t.reset)
}

func (t *tools) cordon(ctx context.Context, in CordonInput) (ActionOutput, error) {
	if err := in.check("cordon_gpu_node"); err != nil {
		return ActionOutput{}, err
	}
	if _, err := t.targets(ctx, in.Node); err != nil || in.Node == "" {
		return ActionOutput{}, fmt.Errorf("cordon_gpu_node: %w", orRequired(err, "node"))
	}
	t.audit(ctx, "cordon_gpu_node", in.Node, in.Node, in.Reason)
	changed, err := t.Nodes.Cordon(ctx, in.Node)
	if err != nil {
		return ActionOutput{}, err
	}
	msg := "cordoned " + in.Node
	if !changed {
		msg = in.Node + " was already cordoned"
	}
	return ActionOutput{Done: true, Message: msg}, nil
}

func (t *tools) drain(ctx context.Context, in DrainInput) (ActionOutput, error) {
	if err := in.check("drain_gpu_node"); err != nil {
		return ActionOutput{}, err
	}
	if _, err := t.targets(ctx, in.Node); err != nil || in.Node == "" {
		return ActionOutput{}, fmt.Errorf("drain_gpu_node: %w", orRequired(err, "node"))
	}
	t.audit(ctx, "drain_gpu_node", in.Node, in.Node, in.Reason)
	ev, err := t.Nodes.Drain(ctx, in.Node, in.GPUPodsOnly)
	if err != nil {
		return ActionOutput{}, err
	}
	notEvicted := 0
	for _, e := range ev {
		if e.Result == "blocked" || e.Result == "failed" {
			notEvicted++
		}
	}
	return ActionOutput{Done: notEvicted == 0, Message: fmt.Sprintf("drained %s: %d pods considered, %d not evicted", in.Node, len(ev), notEvicted), Evictions: ev}, nil
}

func (t *tools) kill(ctx context.Context, in KillInput) (ActionOutput, error) {
	if err := in.check("kill_gpu_process"); err != nil {
		return ActionOutput{}, err
	}
	if in.PID <= 1 {
		return ActionOutput{}, fmt.Errorf("kill_gpu_process: pid must be a GPU process id")
	}
	t.audit(ctx, "kill_gpu_process", in.Node, strconv.Itoa(in.PID), in.Reason)
	return t.invoke(ctx, in.Node, agent.PathKill, agent.KillRequest{PID: in.PID, Reason: in.Reason})
}

func (t *tools) reset(ctx context.Context, in ResetInput) (ActionOutput, error) {
	if err := in.check("reset_gpu"); err != nil {
		return ActionOutput{}, err
	}
	uuid, err := t.resolveGPU(ctx, in.Node, in.GPU)
	if err != nil {
		return ActionOutput{}, err
	}
	t.audit(ctx, "reset_gpu", in.Node, uuid, in.Reason)
	return t.invoke(ctx, in.Node, agent.PathReset, agent.ResetRequest{UUID: uuid, Reason: in.Reason})
}

func orRequired(err error, field string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%s is required", field)
}

func (t *tools) invoke(ctx context.Context, node, path string, body any) (ActionOutput, error) {
	if node == "" {
		return ActionOutput{}, fmt.Errorf("node is required")
	}
	f, err := fanOut(ctx, t, node, func(ctx context.Context, _ string, base string) (agent.ActionResult, error) {
		var res agent.ActionResult
		err := t.AgentClient.Invoke(ctx, base, path, body, &res)
		return res, err
	})
	if err != nil {
		return ActionOutput{}, err
	}
	r := f.Nodes[0].Result
	return ActionOutput{Done: r.Done, Message: r.Message}, nil
}

func (t *tools) resolveGPU(ctx context.Context, node, id string) (string, error) {
	if node == "" || id == "" {
		return "", fmt.Errorf("reset_gpu: node and gpu are required")
	}
	f, err := nodeGet[gpu.Inventory](ctx, t, node, agent.PathInventory, nil)
	if err != nil {
		return "", err
	}
	for _, d := range f.Nodes[0].Result.Devices {
		if d.UUID == id || strconv.Itoa(d.Index) == id {
			return d.UUID, nil
		}
	}
	return "", fmt.Errorf("reset_gpu: node %s has no GPU %q", node, id)
}
