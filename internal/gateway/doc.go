// Package gateway is the Toolmesh data plane: it serves MCP routes, enforces their policies and forwards calls to backends.
package gateway
