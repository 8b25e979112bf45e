package procmap

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/toolmesh/toolmesh/internal/gpu"
)

// Mapper reads /proc under Root (the host's /proc when the agent runs with hostPID).
type Mapper struct {
	// Root is the proc filesystem, normally /proc.
	Root string
}

var (
	// systemd driver: kubepods-burstable-pod1234_5678.slice; cgroupfs driver: /kubepods/burstable/pod1234-5678/.
	podSegment = regexp.MustCompile(`pod([0-9a-fA-F]{8}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{12})(?:\.slice)?$`)
	// cri-containerd-<id>.scope, crio-<id>.scope, docker-<id>.scope, or a bare 64-hex id.
	containerSegment = regexp.MustCompile(`^(?:(?:cri-containerd|crio|docker|containerd)-)?([0-9a-f]{64})(?:\.scope)?$`)
)

// Name returns the process's command name, or "" if it has exited.
func (m Mapper) Name(pid int) string {
	b, err := os.ReadFile(filepath.Join(m.Root, strconv.Itoa(pid), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Owner returns the pod UID and container id from /proc/<pid>/cgroup, or nil when the process
// is not in a Kubernetes pod.
func (m Mapper) Owner(pid int) (*gpu.PodRef, error) {
	f, err := os.Open(filepath.Join(m.Root, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return nil, fmt.Errorf("read cgroup of pid %d: %w", pid, err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if ref := ParseCgroupLine(sc.Text()); ref != nil {
			return ref, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read cgroup of pid %d: %w", pid, err)
	}
	return nil, nil
}

// ParseCgroupLine extracts the pod UID and container id from one /proc/<pid>/cgroup line
// (cgroup v1 or v2, systemd or cgroupfs driver), or returns nil.
func ParseCgroupLine(line string) *gpu.PodRef {
	parts := strings.SplitN(line, ":", 3)
	if len(parts) != 3 || !strings.Contains(parts[2], "kubepods") {
		return nil
	}
	var ref *gpu.PodRef
	for _, seg := range strings.Split(parts[2], "/") {
		if m := podSegment.FindStringSubmatch(seg); m != nil {
			ref = &gpu.PodRef{PodUID: strings.ReplaceAll(m[1], "_", "-")}
			continue
		}
		if m := containerSegment.FindStringSubmatch(seg); m != nil && ref != nil {
			ref.ContainerID = m[1]
		}
	}
	return ref
}
