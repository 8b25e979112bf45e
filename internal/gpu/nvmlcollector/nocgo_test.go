//go:build !cgo

package nvmlcollector

import (
	"errors"
	"strings"
	"testing"

	"github.com/toolmesh/toolmesh/internal/gpu"
)

func TestNewWithoutCgoSaysWhy(t *testing.T) {
	_, err := New(Options{})
	if !errors.Is(err, gpu.ErrNoDriver) || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Fatalf("New error = %v; want a clear no-cgo error", err)
	}
}
