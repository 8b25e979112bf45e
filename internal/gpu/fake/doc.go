// Package fake builds deterministic GPU nodes for tests on go-nvml's DGX H100 mock, one per named scenario.
package fake
