// Package controller reconciles the toolmesh.io kinds into the Kubernetes objects that run and expose MCP servers.
package controller
