// Package operator benchmarks the operator binary against a real API server at scale.
package operator
