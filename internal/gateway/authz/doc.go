// Package authz decides MCP requests with Cedar policies over the gateway's entity model of users, groups, tools, servers and routes.
package authz
