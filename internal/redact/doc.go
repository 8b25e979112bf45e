// Package redact removes secrets from strings, maps, pods and any value before it leaves a server.
package redact
