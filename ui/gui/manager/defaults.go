package manager

import (
	"fmt"
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

// hostLimits reads this host's limits; without /proc/meminfo it assumes a modest 4 GiB host.
func hostLimits() HostLimits {
	h := HostLimits{MaxCPUs: machine.MaxVCPUs(), MaxMemoryMiB: 4096, NumCPU: runtime.NumCPU()}
	if total, err := machine.HostMemoryMiB(); err == nil && total > 0 {
		h.MaxMemoryMiB = int(min(total, library.MaxMemoryMiB))
	}
	return h
}

// Sizing is what the wizard proposes for a new VM.
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

// defaultSizing sizes a new VM for the system on info (nil: not known) on a host with limits h: the system's
// recommendation, but never more than half the host's CPUs or memory, so the host stays usable.
func defaultSizing(info *iso.Info, h HostLimits) Sizing {
	cpus, mem, disk := osProfile(info)
	cpus = max(1, min(cpus, h.NumCPU/2, h.MaxCPUs))
	mem = min(mem, h.MaxMemoryMiB/2)
	if mem >= 1024 {
		mem &^= 127 // a round figure
	}
	mem = max(mem, library.MinMemoryMiB)
	return Sizing{CPUs: cpus, MemoryMiB: mem, DiskGiB: disk}
}

// suggestName turns a label ("Debian 12.5.0 netinst") into a VM name no VM in taken has yet, keeping only the
// characters a name may hold.
func suggestName(label string, taken func(string) bool) string {
	var b strings.Builder
	for _, r := range label {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		switch {
		case ok:
			b.WriteRune(r)
		case r == ' ' || r == ',' || r == '/' || r == '(' || r == ')':
			b.WriteByte(' ')
		}
	}
	base := strings.Join(strings.Fields(b.String()), " ")
	if len(base) > library.MaxNameLen-4 {
		base = strings.TrimSpace(base[:library.MaxNameLen-4])
	}
	if base == "" || library.ValidateName(base) != nil {
		base = "New VM"
	}
	name := base
	for n := 2; taken(name) && n < 1000; n++ {
		name = fmt.Sprintf("%s %d", base, n)
	}
	return name
}

// formatMemory writes a memory size as a person reads it: "512 MiB", "2 GiB", "1.5 GiB".
func formatMemory(mib int) string {
	switch {
	case mib < 1024:
		return fmt.Sprintf("%d MiB", mib)
	case mib%1024 == 0:
		return fmt.Sprintf("%d GiB", mib/1024)
	}
	return fmt.Sprintf("%.1f GiB", float64(mib)/1024)
}

// formatBytes writes a disk size: "20 GiB", "512 MiB", "1.2 TiB".
func formatBytes(n int64) string {
	const gib = 1 << 30
	switch {
	case n >= 1<<40:
		return fmt.Sprintf("%.1f TiB", float64(n)/(1<<40))
	case n >= gib && n%gib == 0:
		return fmt.Sprintf("%d GiB", n/gib)
	case n >= gib:
		return fmt.Sprintf("%.1f GiB", float64(n)/gib)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}
