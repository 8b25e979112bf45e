// Package gpumcp exposes the GPU domain as typed MCP tools: cluster tools, node tools fanned out to agents, and operator actions.
package gpumcp
