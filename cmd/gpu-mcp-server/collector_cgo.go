//go:build cgo

package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/toolmesh/toolmesh/internal/gpu"
	"github.com/toolmesh/toolmesh/internal/gpu/fake"
	"github.com/toolmesh/toolmesh/internal/gpu/nvmlcollector"
	"github.com/toolmesh/toolmesh/internal/gpu/xid"
)

// openCollector opens NVML or a fake scenario, and returns the loop that stamps NVML events.
func openCollector(spec string) (gpu.Collector, func(context.Context) error, error) {
	if name, ok := strings.CutPrefix(spec, "fake:"); ok {
		c, _, err := fake.New(name)
		if err != nil {
			return nil, nil, err
		}
		return c, nil, nil
	}
	if spec != "real" {
		return nil, nil, fmt.Errorf("--nvml must be real or fake:<scenario>, not %q", spec)
	}
	c, err := nvmlcollector.New(nvmlcollector.Options{})
	if err != nil {
		return nil, nil, err
	}
	return c, c.(*nvmlcollector.Collector).Run, nil
}

func fakeKernelLog(name string) func() (xid.Log, error) {
	return func() (xid.Log, error) { return xid.ParseLog(strings.NewReader(fake.KernelLog(name)), fake.Boot) }
}
