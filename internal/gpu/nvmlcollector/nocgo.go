//go:build !cgo

package nvmlcollector

import (
	"fmt"

	"github.com/toolmesh/toolmesh/internal/gpu"
)

// New reports that NVML is unavailable: this binary was built without cgo, which go-nvml needs.
func New(Options) (gpu.Collector, error) {
	return nil, fmt.Errorf("%w: this binary was built with CGO_ENABLED=0 and cannot load libnvidia-ml; rebuild with cgo for the agent role", gpu.ErrNoDriver)
}
