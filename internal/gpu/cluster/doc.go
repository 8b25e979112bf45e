// Package cluster answers read-only GPU questions from the Kubernetes API: nodes, pods, quotas, HAMi state and agent endpoints.
package cluster
