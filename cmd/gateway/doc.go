// Command gateway runs the Toolmesh MCP gateway data plane from a configuration file.
package main
