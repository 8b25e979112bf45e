package xid

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCatalogCarriesSourceAndVersion(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !strings.HasPrefix(c.Source, "https://docs.nvidia.com/") || c.Version == "" {
		t.Fatalf("catalogue provenance missing: source=%q version=%q", c.Source, c.Version)
	}
	tests := []struct {
		code          int
		wantMnemonic  string
		wantImmediate string
	}{
		{13, "ROBUST_CHANNEL_GR_EXCEPTION", "RESTART_APP"},
		{31, "ROBUST_CHANNEL_FIFO_ERROR_MMU_ERR_FLT", "RESTART_APP"},
		{48, "ROBUST_CHANNEL_GPU_ECC_DBE", "WORKFLOW_XID_48"},
		{63, "INFOROM_DRAM_RETIREMENT_EVENT", "IGNORE"},
		{64, "INFOROM_DRAM_RETIREMENT_FAILURE", "RESET_GPU"},
		{74, "NVLINK_ERROR", "WORKFLOW_NVLINK_ERR"},
		{79, "ROBUST_CHANNEL_GPU_HAS_FALLEN_OFF_THE_BUS", "RESTART_BM"},
		{94, "ROBUST_CHANNEL_CONTAINED_ERROR", "RESTART_APP"},
		{95, "ROBUST_CHANNEL_UNCONTAINED_ERROR", "RESET_GPU"},
		{154, "GPU_RECOVERY_ACTION_CHANGED", "XID_154"},
	}
	for _, tt := range tests {
		t.Run(tt.wantMnemonic, func(t *testing.T) {
			e, ok := c.Lookup(tt.code)
			if !ok {
				t.Fatalf("Lookup(%d) missing", tt.code)
			}
			if e.Mnemonic != tt.wantMnemonic || e.ImmediateAction != tt.wantImmediate {
				t.Fatalf("Lookup(%d) = %s/%s, want %s/%s", tt.code, e.Mnemonic, e.ImmediateAction, tt.wantMnemonic, tt.wantImmediate)
			}
		})
	}
	if _, ok := c.Lookup(1); ok {
		t.Fatalf("Xid 1 is unused on every product and should be absent")
	}
}

func TestParseRejectsDuplicatesAndMissingProvenance(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"no source", `{"version":"v","entries":[]}`},
		{"duplicate", `{"source":"s","version":"v","entries":[{"code":1},{"code":1}]}`},
		{"not json", `{`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.in)); err == nil {
				t.Fatalf("Parse(%s) succeeded", tt.in)
			}
		})
	}
}

func TestNormalizePCI(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "0000:2b:00", want: "0000:2b:00.0"},
		{in: "0000:2B:00.0", want: "0000:2b:00.0"},
		{in: "00000000:2B:00.0", want: "0000:2b:00.0"},
		{in: "PCI:0000:db:00", want: "0000:db:00.0"},
		{in: "2b:00.1", want: "0000:2b:00.1"},
		{in: "zz:00.0", wantErr: true},
		{in: "0000:2b", wantErr: true},
		{in: "0000:100:00.0", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizePCI(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NormalizePCI(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("NormalizePCI(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseXidMessage(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want Report
		ok   bool
	}{
		{
			name: "current driver with pid and name",
			msg:  "NVRM: Xid (PCI:0000:01:00): 32, pid=2096908, name=kf-phys-oracle, channel 0x00000007 intr1 00000004",
			want: Report{PCIBusID: "0000:01:00.0", Code: 32, PID: 2096908, ProcessName: "kf-phys-oracle", Detail: "channel 0x00000007 intr1 00000004"},
			ok:   true,
		},
		{
			name: "unknown pid quoted",
			msg:  "NVRM: Xid (PCI:0000:01:00): 48, pid='<unknown>', name=<unknown>, An uncorrectable double bit error",
			want: Report{PCIBusID: "0000:01:00.0", Code: 48, Detail: "An uncorrectable double bit error"},
			ok:   true,
		},
		{
			name: "pid zero without name",
			msg:  "NVRM: Xid (PCI:0000:01:00): 79, pid=0, GPU has fallen off the bus.",
			want: Report{PCIBusID: "0000:01:00.0", Code: 79, Detail: "GPU has fallen off the bus."},
			ok:   true,
		},
		{
			name: "old driver without PCI prefix or pid",
			msg:  "NVRM: Xid (0000:03:00): 14, Channel 00000001",
			want: Report{PCIBusID: "0000:03:00.0", Code: 14, Detail: "Channel 00000001"},
			ok:   true,
		},
		{
			name: "bare code",
			msg:  "NVRM: Xid (PCI:0000:00:1e): 31",
			want: Report{PCIBusID: "0000:00:1e.0", Code: 31},
			ok:   true,
		},
		{name: "not an xid", msg: "NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.15"},
		{name: "sxid is not an xid", msg: "nvidia-nvswitch0: SXid (PCI:0000:00:00.0): 11001, Fatal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseXidMessage(tt.msg)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("ParseXidMessage() = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseLogUsesBootTimePlusRecordOffset(t *testing.T) {
	boot := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		file      string
		wantCodes []int
		wantFirst time.Time
		wantBus   string
		wantUUIDs int
		wantSkip  int
	}{
		{
			file:      "kmsg-h100.txt",
			wantCodes: []int{94, 45, 48, 63, 154, 79, 14},
			wantFirst: boot.Add(5123456789 * time.Microsecond),
			wantBus:   "0000:18:00.0",
			wantUUIDs: 2,
			wantSkip:  1,
		},
		{
			file:      "dmesg-desktop.txt",
			wantCodes: []int{32, 32},
			wantFirst: boot.Add(1399*time.Second + 140323*time.Microsecond),
			wantBus:   "0000:01:00.0",
			wantUUIDs: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			log, err := ReadKmsg(filepath.Join("testdata", tt.file), boot)
			if err != nil {
				t.Fatalf("ReadKmsg: %v", err)
			}
			var codes []int
			for _, r := range log.Reports {
				codes = append(codes, r.Code)
			}
			if len(codes) != len(tt.wantCodes) {
				t.Fatalf("codes = %v, want %v", codes, tt.wantCodes)
			}
			for i := range codes {
				if codes[i] != tt.wantCodes[i] {
					t.Fatalf("codes = %v, want %v", codes, tt.wantCodes)
				}
			}
			first := log.Reports[0]
			if !first.Time.Equal(tt.wantFirst) || first.PCIBusID != tt.wantBus {
				t.Fatalf("first report = %v on %s, want %v on %s", first.Time, first.PCIBusID, tt.wantFirst, tt.wantBus)
			}
			if first.Time.Year() != 2026 {
				t.Fatalf("time %v was not anchored at boot", first.Time)
			}
			if len(log.UUIDByBus) != tt.wantUUIDs || log.Skipped != tt.wantSkip {
				t.Fatalf("uuids=%v skipped=%d, want %d uuids, %d skipped", log.UUIDByBus, log.Skipped, tt.wantUUIDs, tt.wantSkip)
			}
		})
	}
}

func TestBootTimeFromUptime(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "uptime"), []byte("3600.25 7000.00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	got, err := BootTime(now, dir)
	if err != nil {
		t.Fatalf("BootTime: %v", err)
	}
	if want := now.Add(-3600250 * time.Millisecond); !got.Equal(want) {
		t.Fatalf("BootTime = %v, want %v", got, want)
	}
	if _, err := BootTime(now, filepath.Join(dir, "missing")); err == nil {
		t.Fatalf("BootTime on a missing /proc succeeded")
	}
}
