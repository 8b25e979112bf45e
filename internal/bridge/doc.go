// Package bridge serves a stdio MCP server over streamable HTTP, with one child process per MCP session.
package bridge
