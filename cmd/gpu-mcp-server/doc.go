// Command gpu-mcp-server is Toolmesh's bundled GPU MCP server (--role=server) and its node agent (--role=agent).
package main
