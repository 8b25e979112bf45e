//go:build cgo

package fake

import (
	"context"
	"testing"
)

func TestScenariosAreDeterministic(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			a, _, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			b, _, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			ia, errA := a.Inventory(context.Background())
			ib, errB := b.Inventory(context.Background())
			if errA != nil || errB != nil || len(ia.Devices) != 8 || ia.Devices[7].UUID != ib.Devices[7].UUID || ia.Devices[7].PCIBusID != "0000:db:00.0" {
				t.Fatalf("inventories differ or are wrong: %v %v %+v", errA, errB, ia.Devices)
			}
		})
	}
	if _, _, err := New("no-such-scenario"); err == nil {
		t.Fatalf("unknown scenario accepted")
	}
}

func TestTopologyNeverGuessesPeersFromBusNumbers(t *testing.T) {
	c, _, err := New(Healthy)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := c.Topology(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Paths) != 28 || len(topo.GPUs) != 8 || len(topo.GPUs[0].Links) != 18 {
		t.Fatalf("topology shape: %d paths, %d gpus", len(topo.Paths), len(topo.GPUs))
	}
	for _, l := range topo.GPUs[0].Links {
		if l.RemoteGPUIndex != -1 || l.RemoteDeviceType != "switch" {
			t.Fatalf("link %d reaches an NVSwitch but was mapped to GPU %d (%s)", l.Link, l.RemoteGPUIndex, l.RemoteDeviceType)
		}
	}
	p := topo.Paths[0]
	if p.NVLinks != 0 || p.P2PNVLink != "ok" || p.CommonAncestor != "numa_node" {
		t.Fatalf("path 0-1 = %+v", p)
	}
}
