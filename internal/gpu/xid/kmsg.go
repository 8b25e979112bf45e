package xid

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Report is one Xid reported by the NVIDIA driver in the kernel log.
type Report struct {
	// Time is the wall-clock time of the record: boot time plus the record's time since boot.
	Time time.Time
	// PCIBusID is the GPU's PCI address in canonical form, such as 0000:2b:00.0.
	PCIBusID string
	// Code is the Xid number.
	Code int
	// PID is the process the driver named, or 0 when it printed none or '<unknown>'.
	PID int
	// ProcessName is the process name the driver printed, if any.
	ProcessName string
	// Detail is the rest of the driver's message.
	Detail string
}

// Log is what a kernel log yields about NVIDIA GPUs.
type Log struct {
	// Reports are the Xid reports in log order.
	Reports []Report
	// UUIDByBus maps canonical PCI addresses to GPU UUIDs announced by "NVRM: GPU at" lines.
	UUIDByBus map[string]string
	// Skipped counts records that could not be parsed.
	Skipped int
}

var (
	kmsgHeader = regexp.MustCompile(`^(\d+),(\d+),(\d+),[^;]*;(.*)$`)
	dmesgLine  = regexp.MustCompile(`^\[\s*(\d+)\.(\d{1,9})\]\s?(.*)$`)
	xidLine    = regexp.MustCompile(`NVRM: Xid \((?:PCI:)?([0-9A-Fa-f:.]+)\): (\d+)(?:, (.*))?$`)
	gpuAtLine  = regexp.MustCompile(`NVRM: GPU at (?:PCI:)?([0-9A-Fa-f:.]+): (GPU-[0-9A-Fa-f-]+)`)
	pidField   = regexp.MustCompile(`^pid=(?:'?<unknown>'?|'?(\d+)'?)$`)
	nameField  = regexp.MustCompile(`^name=(.*)$`)
)

// ParseLog reads kernel log records and returns the Xid reports and GPU announcements in them.
// It accepts /dev/kmsg records ("6,1234,5678901,-;NVRM: ...", time in microseconds since boot)
// and dmesg lines ("[ 5678.901234] NVRM: ..."). Times are boot plus the record's offset, never
// the offset read as a Unix time. Continuation lines of /dev/kmsg (leading space) are ignored.
func ParseLog(r io.Reader, boot time.Time) (Log, error) {
	out := Log{UUIDByBus: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, " ") {
			continue
		}
		offset, msg, ok := splitRecord(line)
		if !ok {
			out.Skipped++
			continue
		}
		if m := gpuAtLine.FindStringSubmatch(msg); m != nil {
			if bus, err := NormalizePCI(m[1]); err == nil {
				out.UUIDByBus[bus] = m[2]
			}
			continue
		}
		rep, ok := ParseXidMessage(msg)
		if !ok {
			continue
		}
		rep.Time = boot.Add(offset)
		out.Reports = append(out.Reports, rep)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, syscall.EAGAIN) {
		return out, fmt.Errorf("read kernel log: %w", err)
	}
	return out, nil
}

func splitRecord(line string) (time.Duration, string, bool) {
	if m := kmsgHeader.FindStringSubmatch(line); m != nil {
		usec, err := strconv.ParseInt(m[3], 10, 64)
		if err != nil {
			return 0, "", false
		}
		return time.Duration(usec) * time.Microsecond, m[4], true
	}
	if m := dmesgLine.FindStringSubmatch(line); m != nil {
		sec, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return 0, "", false
		}
		frac := m[2] + strings.Repeat("0", 9-len(m[2]))
		nsec, err := strconv.ParseInt(frac, 10, 64)
		if err != nil {
			return 0, "", false
		}
		return time.Duration(sec)*time.Second + time.Duration(nsec), m[3], true
	}
	return 0, "", false
}

// ParseXidMessage parses the text of one "NVRM: Xid (...)" kernel message; Time is left zero.
func ParseXidMessage(msg string) (Report, bool) {
	m := xidLine.FindStringSubmatch(strings.TrimRight(msg, "\r\n"))
	if m == nil {
		return Report{}, false
	}
	bus, err := NormalizePCI(m[1])
	if err != nil {
		return Report{}, false
	}
	code, err := strconv.Atoi(m[2])
	if err != nil {
		return Report{}, false
	}
	rep := Report{PCIBusID: bus, Code: code}
	rest := m[3]
	// The driver prints "pid=N, name=X, detail" on current releases and only the detail on old ones.
	for i := 0; i < 2; i++ {
		field, tail, _ := strings.Cut(rest, ", ")
		if pm := pidField.FindStringSubmatch(field); pm != nil {
			if pm[1] != "" {
				rep.PID, _ = strconv.Atoi(pm[1])
			}
			rest = tail
			continue
		}
		if nm := nameField.FindStringSubmatch(field); nm != nil {
			name := strings.Trim(nm[1], "'")
			if name != "<unknown>" {
				rep.ProcessName = name
			}
			rest = tail
			continue
		}
		break
	}
	rep.Detail = strings.TrimSpace(rest)
	return rep, true
}

// NormalizePCI returns a PCI address in the canonical form dddd:bb:dd.f (lower case, four-digit
// domain). It accepts the kernel's "0000:2b:00", NVML's "00000000:2B:00.0" and "2b:00.0".
func NormalizePCI(s string) (string, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "PCI:")
	fn := "0"
	if i := strings.LastIndex(s, "."); i >= 0 {
		fn = s[i+1:]
		s = s[:i]
	}
	parts := strings.Split(s, ":")
	if len(parts) == 2 {
		parts = append([]string{"0"}, parts...)
	}
	if len(parts) != 3 {
		return "", fmt.Errorf("malformed PCI address %q", s)
	}
	vals := make([]uint64, 4)
	for i, p := range append(parts, fn) {
		v, err := strconv.ParseUint(p, 16, 32)
		if err != nil || p == "" {
			return "", fmt.Errorf("malformed PCI address %q", s)
		}
		vals[i] = v
	}
	if vals[1] > 0xff || vals[2] > 0x1f || vals[3] > 7 || vals[0] > 0xffff {
		return "", fmt.Errorf("PCI address %q out of range", s)
	}
	return fmt.Sprintf("%04x:%02x:%02x.%x", vals[0], vals[1], vals[2], vals[3]), nil
}

// BootTime returns the wall-clock time the machine booted, from /proc/uptime (centisecond precision).
func BootTime(now time.Time, procRoot string) (time.Time, error) {
	b, err := os.ReadFile(procRoot + "/uptime")
	if err != nil {
		return time.Time{}, fmt.Errorf("read uptime: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return time.Time{}, fmt.Errorf("empty %s/uptime", procRoot)
	}
	up, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse uptime %q: %w", f[0], err)
	}
	return now.Add(-time.Duration(up * float64(time.Second))), nil
}

// ReadKmsg reads the records currently in /dev/kmsg (or another path in the same format) without
// blocking and parses them. Reading /dev/kmsg needs CAP_SYSLOG where dmesg_restrict is set.
func ReadKmsg(path string, boot time.Time) (Log, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return Log{}, fmt.Errorf("open kernel log %s: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	return ParseLog(&eagainReader{r: f}, boot)
}

// eagainReader reads /dev/kmsg one record per read into its own buffer (a short buffer makes the
// kernel answer EINVAL), turns the EAGAIN that ends a non-blocking read into io.EOF, and skips
// EPIPE, which /dev/kmsg returns once when records were overwritten before they were read.
type eagainReader struct {
	r       io.Reader
	buf     [16 * 1024]byte
	pending []byte
}

func (e *eagainReader) Read(p []byte) (int, error) {
	for len(e.pending) == 0 {
		n, err := e.r.Read(e.buf[:])
		switch {
		case errors.Is(err, syscall.EAGAIN):
			return 0, io.EOF
		case errors.Is(err, syscall.EPIPE):
			continue
		case err != nil:
			return 0, err
		}
		e.pending = e.buf[:n]
	}
	n := copy(p, e.pending)
	e.pending = e.pending[n:]
	return n, nil
}
