package vmctl

import (
	"runtime"
	"strings"

	"paddock/engine/machine"
	"paddock/library"
	"paddock/library/iso"
)

// HostLimits are the bounds the wizard and the settings accept for this host.
type HostLimits struct {
	MaxCPUs      int // the engine's limit for this host
	MaxMemoryMiB int // the host's physical memory
	NumCPU       int // the host's logical CPUs
}

// ReadHostLimits reads this host's limits; without /proc/meminfo it assumes a modest 4 GiB host.
func ReadHostLimits() HostLimits {
	h := HostLimits{MaxCPUs: machine.MaxVCPUs(), MaxMemoryMiB: 4096, NumCPU: runtime.NumCPU()}
	if total, err := machine.HostMemoryMiB(); err == nil && total > 0 {
		h.MaxMemoryMiB = int(min(total, library.MaxMemoryMiB))
	}
	return h
}

// Sizing is what Paddock proposes for a new VM (the wizard and `paddock create`).
type Sizing struct {
	CPUs      int
	MemoryMiB int
	DiskGiB   int
}

// osProfile is what a system wants to install and run comfortably, before the host's limits apply (the figures
// the distributions publish as recommended, as GNOME Boxes' osinfo database does).
func osProfile(info *iso.Info) (cpus, memoryMiB, diskGiB int) {
	if info == nil {
		return 2, 2048, 20
	}
	edition := strings.ToLower(info.Edition)
	switch info.Family {
	case iso.FamilyAlpine:
		return 1, 512, 4
	case iso.FamilyDebian:
		return 2, 2048, 20
	case iso.FamilyUbuntu:
		if strings.Contains(edition, "server") {
			return 2, 2048, 20
		}
		return 2, 4096, 25
	case iso.FamilyFedora:
		if strings.Contains(edition, "server") {
			return 2, 2048, 20
		}
		return 2, 4096, 20
	}
	return 2, 2048, 20
}

// DefaultSizing sizes a new VM for the system on info (nil: not known) on a host with limits h: the system's
// recommendation, but never more than half the host's CPUs or memory, so the host stays usable.
func DefaultSizing(info *iso.Info, h HostLimits) Sizing {
	cpus, mem, disk := osProfile(info)
	cpus = max(1, min(cpus, h.NumCPU/2, h.MaxCPUs))
	mem = min(mem, h.MaxMemoryMiB/2)
	if mem >= 1024 {
		mem &^= 127 // a round figure
	}
	mem = max(mem, library.MinMemoryMiB)
	return Sizing{CPUs: cpus, MemoryMiB: mem, DiskGiB: disk}
}
