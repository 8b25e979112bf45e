//go:build cgo

package nvmlcollector

import (
	"errors"
	"strings"
	"testing"

	"github.com/toolmesh/toolmesh/internal/gpu"
)

// This machine has no NVIDIA driver: the real NVML path must load nothing and say so clearly.
func TestNewWithoutDriverSaysNVMLDriverNotFound(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"default library", Options{}},
		{"explicit missing path", Options{LibraryPath: "/nonexistent/libnvidia-ml.so.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.opts)
			if err == nil {
				_ = c.Close()
				t.Fatalf("New succeeded on a machine without the NVIDIA driver")
			}
			if !errors.Is(err, gpu.ErrNoDriver) || !strings.Contains(err.Error(), "NVML driver not found") || !strings.Contains(err.Error(), "libnvidia-ml") {
				t.Fatalf("New error = %q; want a clear NVML-driver-not-found error", err)
			}
		})
	}
}

func TestClockEventReasonsNamesEveryBit(t *testing.T) {
	got := clockEventReasons(1 | 4 | 64 | 128)
	want := "gpu_idle,sw_power_cap,hw_thermal_slowdown,hw_power_brake_slowdown"
	if strings.Join(got, ",") != want {
		t.Fatalf("clockEventReasons = %v, want %s", got, want)
	}
}
