package gpumcp

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolmesh/toolmesh/internal/gpu/agent"
	"github.com/toolmesh/toolmesh/internal/gpu/cluster"
	"github.com/toolmesh/toolmesh/internal/gpu/ops"
	"github.com/toolmesh/toolmesh/internal/gpu/prom"
	"github.com/toolmesh/toolmesh/internal/redact"
)

// Mode selects which tools exist.
type Mode string

// Modes.
const (
	// ModeReadOnly registers only tools that read.
	ModeReadOnly Mode = "read-only"
	// ModeOperator adds cordon, drain, kill and reset tools.
	ModeOperator Mode = "operator"
)

// AgentLocator finds the agent serving a node.
type AgentLocator interface {
	// Endpoint returns the agent's base URL on node.
	Endpoint(ctx context.Context, node string) (string, error)
}

// Options configures the MCP server.
type Options struct {
	// Cluster reads the Kubernetes API.
	Cluster *cluster.Reader
	// Agents finds node agents.
	Agents AgentLocator
	// AgentClient calls agents.
	AgentClient *agent.Client
	// Prometheus answers get_gpu_metrics; nil when no --prometheus-url was given.
	Prometheus *prom.Client
	// Mode selects read-only or operator tools.
	Mode Mode
	// Nodes performs cordon and drain in operator mode.
	Nodes *ops.Nodes
	// Log receives audit records of operator actions.
	Log *slog.Logger
	// Now returns the current time; defaults to time.Now.
	Now func() time.Time
	// Concurrency bounds parallel agent calls; defaults to 16.
	Concurrency int
	// Version is reported to clients.
	Version string
}

type tools struct {
	Options
}

// NewServer returns an MCP server with the GPU tools for opts.Mode.
func NewServer(opts Options) *mcp.Server {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "toolmesh-gpu", Version: opts.Version}, &mcp.ServerOptions{
		Instructions: "GPU fleet introspection for Kubernetes: cluster tools read the API; node tools ask the GPU agent on each node (omit node for all GPU nodes).",
	})
	t := &tools{Options: opts}
	t.addClusterTools(s)
	t.addNodeTools(s)
	if opts.Mode == ModeOperator {
		t.addOperatorTools(s)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

func readOnly(title string) *mcp.ToolAnnotations {
	return &mcp.ToolAnnotations{Title: title, ReadOnlyHint: true, IdempotentHint: true, DestructiveHint: ptr(false), OpenWorldHint: ptr(false)}
}

func destructive(title string) *mcp.ToolAnnotations {
	return &mcp.ToolAnnotations{Title: title, ReadOnlyHint: false, IdempotentHint: false, DestructiveHint: ptr(true), OpenWorldHint: ptr(false)}
}

// add registers a typed tool whose output and error text pass redaction before leaving.
func add[In, Out any](s *mcp.Server, t *mcp.Tool, h func(context.Context, In) (Out, error)) {
	mcp.AddTool(s, t, func(ctx context.Context, _ *mcp.CallToolRequest, in In) (*mcp.CallToolResult, Out, error) {
		out, err := h(ctx, in)
		if err != nil {
			var zero Out
			return nil, zero, errors.New(redact.Text(err.Error()))
		}
		redact.Value(&out)
		return nil, out, nil
	})
}
