// Package ops holds the operator-mode actions that change the cluster: cordoning and draining GPU nodes.
package ops
