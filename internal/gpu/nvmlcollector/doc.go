// Package nvmlcollector implements gpu.Collector over NVML through github.com/NVIDIA/go-nvml, which needs cgo.
package nvmlcollector
