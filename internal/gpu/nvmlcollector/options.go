package nvmlcollector

import (
	"context"
	"time"
)

// Options configures a Collector.
type Options struct {
	// Now returns the current time; it stamps NVML events. Defaults to time.Now.
	Now func() time.Time
	// Reset resets a GPU by UUID. Defaults to running nvidia-smi --gpu-reset.
	Reset func(ctx context.Context, uuid string) error
	// LibraryPath overrides the NVML library to load (default libnvidia-ml.so.1).
	LibraryPath string
}
