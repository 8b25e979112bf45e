//go:build !cgo

package main

import (
	"context"
	"fmt"

	"github.com/toolmesh/toolmesh/internal/gpu"
	"github.com/toolmesh/toolmesh/internal/gpu/nvmlcollector"
	"github.com/toolmesh/toolmesh/internal/gpu/xid"
)

// openCollector reports that this build cannot reach NVML; fake scenarios need cgo too.
func openCollector(spec string) (gpu.Collector, func(context.Context) error, error) {
	if spec != "real" {
		return nil, nil, fmt.Errorf("--nvml=%s needs a cgo build", spec)
	}
	c, err := nvmlcollector.New(nvmlcollector.Options{})
	return c, nil, err
}

func fakeKernelLog(string) func() (xid.Log, error) {
	return func() (xid.Log, error) { return xid.Log{}, fmt.Errorf("fake kernel logs need a cgo build") }
}
