// Package agent is the node role: it answers GPU questions from a Collector over an authenticated HTTP API.
package agent
