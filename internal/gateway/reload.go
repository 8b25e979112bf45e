package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"time"

	"github.com/toolmesh/toolmesh/internal/ir"
)

// LoadFile reads the configuration file at path and applies it. An invalid file leaves the
// current configuration in place.
func (s *Server) LoadFile(ctx context.Context, path string) error {
	b, err := os.ReadFile(path)
	if err == nil {
		sum := sha256.Sum256(b)
		s.fileHash.Store(&sum)
	}
	cfg, err := ir.Load(path)
	if err != nil {
		msg := err.Error()
		s.lastError.Store(&msg)
		s.metrics.reloads.WithLabelValues("failure").Inc()
		return err
	}
	return s.Apply(ctx, cfg)
}

// WatchFile polls the configuration file every interval and applies it whenever its content
// changes, until ctx ends. Polling (rather than inotify) follows the symlink swaps Kubernetes
// uses for mounted ConfigMaps. Failed loads are logged and the last good configuration stays.
func (s *Server) WatchFile(ctx context.Context, path string, interval time.Duration) {
	var last []byte
	if h := s.fileHash.Load(); h != nil {
		last = h[:]
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		sum := sha256.Sum256(b)
		if bytes.Equal(sum[:], last) {
			continue
		}
		last = sum[:]
		if err := s.LoadFile(ctx, path); err != nil {
			s.log.Error(fmt.Sprintf("Kept the last good configuration: %v", err), "path", path)
		}
	}
}
