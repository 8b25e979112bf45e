package gpumcp

import (
	"context"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolmesh/toolmesh/internal/gpu/cluster"
	"github.com/toolmesh/toolmesh/internal/gpu/prom"
)

// ListNodesInput takes no arguments.
type ListNodesInput struct{}

// ListNodesOutput lists GPU nodes.
type ListNodesOutput struct {
	// Nodes are the GPU nodes.
	Nodes []cluster.GPUNode `json:"nodes" jsonschema:"GPU nodes with GFD labels and GPU resources"`
}

// ListPodsInput narrows list_gpu_pods.
type ListPodsInput struct {
	// Namespace limits the pods to one namespace.
	Namespace string `json:"namespace,omitempty" jsonschema:"namespace; empty for all"`
	// Node limits the pods to one node.
	Node string `json:"node,omitempty" jsonschema:"node name; empty for all"`
}

// ListPodsOutput lists GPU pods.
type ListPodsOutput struct {
	// Pods are the pods with GPU resources.
	Pods []cluster.GPUPod `json:"pods" jsonschema:"pods with GPU requests, limits or HAMi allocations"`
}

// QuotaInput narrows get_quota_usage.
type QuotaInput struct {
	// Namespace limits quotas to one namespace.
	Namespace string `json:"namespace,omitempty" jsonschema:"namespace; empty for all"`
}

// QuotaOutput lists GPU quotas.
type QuotaOutput struct {
	// Quotas are the ResourceQuotas with GPU resources.
	Quotas []cluster.Quota `json:"quotas" jsonschema:"ResourceQuotas with GPU resources; limited=false means no quota"`
}

// DescribeInput names a node.
type DescribeInput struct {
	// Node is the node name.
	Node string `json:"node" jsonschema:"GPU node name"`
}

// MetricsInput is a validated metric query.
type MetricsInput struct {
	// Metric is a DCGM_FI_*, hami_* or other allow-listed metric name.
	Metric string `json:"metric" jsonschema:"metric name: DCGM_FI_*, hami_* or another allow-listed name"`
	// Labels are exact-match label filters.
	Labels map[string]string `json:"labels,omitempty" jsonschema:"exact-match label filters, e.g. {\"Hostname\":\"node-a\",\"gpu\":\"0\"}"`
	// RangeMinutes makes a range query over the last N minutes when positive.
	RangeMinutes int `json:"rangeMinutes,omitempty" jsonschema:"range query over the last N minutes (0 for an instant query, max 1440)"`
	// StepSeconds is the range resolution.
	StepSeconds int `json:"stepSeconds,omitempty" jsonschema:"range resolution in seconds (default 60)"`
}

// MetricsOutput carries the series found.
type MetricsOutput struct {
	// Query is the PromQL the server ran.
	Query string `json:"query" jsonschema:"PromQL selector that was run"`
	// Series are the results.
	Series []prom.Series `json:"series" jsonschema:"result series"`
}

func (t *tools) addClusterTools(s *mcp.Server) {
	add(s, &mcp.Tool{
		Name:        "list_gpu_nodes",
		Description: "List GPU nodes: GFD product/memory/count/family labels, nvidia.com/gpu, MIG and HAMi resources (capacity vs allocatable vs allocated), conditions and taints.",
		Annotations: readOnly("List GPU nodes"),
	}, func(ctx context.Context, _ ListNodesInput) (ListNodesOutput, error) {
		nodes, err := t.Cluster.ListGPUNodes(ctx)
		return ListNodesOutput{Nodes: nodes}, err
	})
	add(s, &mcp.Tool{
		Name:        "list_gpu_pods",
		Description: "List pods using GPUs: per-container GPU requests and limits, node, phase and HAMi vGPU allocation. Secrets in env and annotations are masked.",
		Annotations: readOnly("List GPU pods"),
	}, func(ctx context.Context, in ListPodsInput) (ListPodsOutput, error) {
		pods, err := t.Cluster.ListGPUPods(ctx, in.Namespace, in.Node)
		return ListPodsOutput{Pods: pods}, err
	})
	add(s, &mcp.Tool{
		Name:        "get_quota_usage",
		Description: "Show GPU ResourceQuotas (requests.nvidia.com/gpu, limits.nvidia.com/gpumem, ...): hard vs used. A resource without a hard limit has no quota; it is not zero.",
		Annotations: readOnly("GPU quota usage"),
	}, func(ctx context.Context, in QuotaInput) (QuotaOutput, error) {
		qs, err := t.Cluster.QuotaUsage(ctx, in.Namespace)
		return QuotaOutput{Quotas: qs}, err
	})
	add(s, &mcp.Tool{
		Name:        "describe_gpu_node",
		Description: "Describe one GPU node: labels, redacted annotations, GPU resources, its GPU pods and the HAMi device registration (hami.io/node-nvidia-register).",
		Annotations: readOnly("Describe a GPU node"),
	}, func(ctx context.Context, in DescribeInput) (cluster.NodeDetail, error) {
		if in.Node == "" {
			return cluster.NodeDetail{}, fmt.Errorf("node is required")
		}
		return t.Cluster.DescribeNode(ctx, in.Node)
	})
	add(s, &mcp.Tool{
		Name:        "get_gpu_metrics",
		Description: "Query GPU metrics from Prometheus (DCGM exporter DCGM_FI_* and HAMi hami_* metrics), instant or over the last minutes. Needs --prometheus-url.",
		Annotations: &mcp.ToolAnnotations{Title: "GPU metrics", ReadOnlyHint: true, IdempotentHint: true, DestructiveHint: ptr(false), OpenWorldHint: ptr(true)},
	}, t.metrics)
}

func (t *tools) metrics(ctx context.Context, in MetricsInput) (MetricsOutput, error) {
	if t.Prometheus == nil {
		return MetricsOutput{}, fmt.Errorf("get_gpu_metrics is not configured: start the server with --prometheus-url")
	}
	q := prom.Query{Metric: in.Metric, Labels: in.Labels}
	if in.RangeMinutes < 0 || in.RangeMinutes > 1440 {
		return MetricsOutput{}, fmt.Errorf("rangeMinutes must be between 0 and 1440")
	}
	if in.RangeMinutes > 0 {
		step := in.StepSeconds
		if step <= 0 {
			step = 60
		}
		q.End = t.Now()
		q.Start = q.End.Add(-time.Duration(in.RangeMinutes) * time.Minute)
		q.Step = time.Duration(step) * time.Second
	}
	expr, err := q.PromQL()
	if err != nil {
		return MetricsOutput{}, err
	}
	series, err := t.Prometheus.Do(ctx, q)
	if err != nil {
		return MetricsOutput{}, err
	}
	return MetricsOutput{Query: expr, Series: series}, nil
}
