package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	toolmeshv1alpha1 "github.com/toolmesh/toolmesh/api/v1alpha1"
)

const maxDescription = 1024

// DiscoveryTarget is where and how to reach a server for tool discovery.
type DiscoveryTarget struct {
	// URL is the server's MCP endpoint.
	URL string
	// Transport is streamable-http or sse (stdio servers are reached through stdio-bridge over
	// streamable HTTP).
	Transport toolmeshv1alpha1.TransportType
	// Headers are sent with every request. Their values are secrets and never logged.
	Headers map[string]string
}

// Discovery is what a server said about itself and its tools.
type Discovery struct {
	// ServerInfo is the server's initialize response, summarised.
	ServerInfo toolmeshv1alpha1.ServerInfo
	// Tools are the server's tools, sorted by name.
	Tools []toolmeshv1alpha1.ToolStatus
}

// Discoverer lists a server's tools over MCP.
type Discoverer interface {
	Discover(ctx context.Context, target DiscoveryTarget) (*Discovery, error)
}

// MCPDiscoverer is a Discoverer that speaks MCP with the go-sdk client: initialize,
// notifications/initialized, then tools/list through every page.
type MCPDiscoverer struct {
	// Timeout bounds one discovery. Defaults to 10s.
	Timeout time.Duration
	// Version is the operator version sent as clientInfo.
	Version string
}

// Discover implements Discoverer.
func (d *MCPDiscoverer) Discover(ctx context.Context, target DiscoveryTarget) (*Discovery, error) {
	timeout := d.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	httpClient := &http.Client{Transport: &headerTransport{base: http.DefaultTransport, headers: target.Headers}}
	var transport mcp.Transport
	if target.Transport == toolmeshv1alpha1.TransportSSE {
		transport = &mcp.SSEClientTransport{Endpoint: target.URL, HTTPClient: httpClient}
	} else {
		transport = &mcp.StreamableClientTransport{Endpoint: target.URL, HTTPClient: httpClient, MaxRetries: -1, DisableStandaloneSSE: true}
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "toolmesh-operator", Version: d.Version}, nil)
	session, err := client.Connect(ctx, transport, nil)
	if err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	defer func() { _ = session.Close() }()

	out := &Discovery{ServerInfo: serverInfo(session.InitializeResult())}
	for tool, err := range session.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("tools/list: %w", err)
		}
		out.Tools = append(out.Tools, toolStatus(tool))
		if len(out.Tools) > 1024 {
			return nil, errors.New("tools/list: the server lists more than 1024 tools")
		}
	}
	slices.SortFunc(out.Tools, func(a, b toolmeshv1alpha1.ToolStatus) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func serverInfo(res *mcp.InitializeResult) toolmeshv1alpha1.ServerInfo {
	var info toolmeshv1alpha1.ServerInfo
	if res == nil {
		return info
	}
	info.ProtocolVersion = res.ProtocolVersion
	if res.ServerInfo != nil {
		info.Name, info.Version = truncate(res.ServerInfo.Name, 256), truncate(res.ServerInfo.Version, 128)
	}
	if c := res.Capabilities; c != nil {
		for name, present := range map[string]bool{
			"completions": c.Completions != nil, "prompts": c.Prompts != nil,
			"resources": c.Resources != nil, "tools": c.Tools != nil,
		} {
			if present {
				info.Capabilities = append(info.Capabilities, name)
			}
		}
		slices.Sort(info.Capabilities)
	}
	return info
}

func toolStatus(t *mcp.Tool) toolmeshv1alpha1.ToolStatus {
	s := toolmeshv1alpha1.ToolStatus{
		Name:        truncate(t.Name, 128),
		Title:       truncate(t.Title, 256),
		Description: truncate(t.Description, maxDescription),
	}
	if a := t.Annotations; a != nil {
		if s.Title == "" {
			s.Title = truncate(a.Title, 256)
		}
		ro, idem := a.ReadOnlyHint, a.IdempotentHint
		s.Annotations = &toolmeshv1alpha1.ToolAnnotations{
			ReadOnly: &ro, Destructive: a.DestructiveHint, Idempotent: &idem, OpenWorld: a.OpenWorldHint,
		}
	}
	if b, err := json.Marshal(t.InputSchema); err == nil {
		sum := sha256.Sum256(b)
		s.InputSchemaHash = "sha256:" + hex.EncodeToString(sum[:])
	}
	return s
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// describeDiscoveryError turns a discovery error into a short deterministic message: no
// addresses, ports or request ids that change between attempts.
func describeDiscoveryError(err error) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var urlErr *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "Tool discovery timed out."
	case errors.As(err, &dnsErr):
		return "Tool discovery failed: the server's host name does not resolve."
	case errors.As(err, &opErr):
		return "Tool discovery failed: the server refused or dropped the connection."
	case errors.As(err, &urlErr):
		return "Tool discovery failed: the HTTP request to the server failed."
	case strings.HasPrefix(err.Error(), "tools/list"):
		return "Tool discovery failed: tools/list returned an error."
	default:
		return "Tool discovery failed: initialize returned an error."
	}
}

// headerTransport adds fixed headers to every request.
type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(t.headers) > 0 {
		req = req.Clone(req.Context())
		for k, v := range t.headers {
			req.Header.Set(k, v)
		}
	}
	return t.base.RoundTrip(req)
}
