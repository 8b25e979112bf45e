package gpu

import (
	"context"
	"errors"
)

// ErrNotFound is returned when a GPU or process named by the caller does not exist.
var ErrNotFound = errors.New("not found")

// ErrNoDriver is returned when the NVIDIA driver's NVML library cannot be loaded.
var ErrNoDriver = errors.New("NVML driver not found")

// ErrBusy is returned when an action is refused because the GPU is in use.
var ErrBusy = errors.New("gpu busy")

// Collector reads the GPUs of one node. Implementations: NVML (package nvmlcollector) and a
// deterministic fake built on go-nvml's DGX H100 mock (package fake).
type Collector interface {
	// Inventory returns the driver and the GPUs.
	Inventory(ctx context.Context) (Inventory, error)
	// Telemetry returns each GPU's live state.
	Telemetry(ctx context.Context) ([]Telemetry, error)
	// Topology returns the GPU interconnect as NVML reports it.
	Topology(ctx context.Context) (Topology, error)
	// ECC returns each GPU's memory error state.
	ECC(ctx context.Context) ([]ECC, error)
	// Processes returns the processes holding GPU contexts.
	Processes(ctx context.Context) ([]Process, error)
	// Recovery returns NVML's recovery action for each GPU.
	Recovery(ctx context.Context) ([]Recovery, error)
	// XIDEvents returns the Xid events NVML delivered since the collector started.
	XIDEvents(ctx context.Context) ([]XIDEvent, error)
	// ResetGPU resets one GPU by UUID; callers check that no process runs on it first.
	ResetGPU(ctx context.Context, uuid string) error
	// Close releases NVML.
	Close() error
}
