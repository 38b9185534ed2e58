package kvm

import (
	"bufio"
	"os"
	"strings"
)

// Accel describes what sits under /dev/kvm on this host.
type Accel struct {
	// Hardware is true when KVM runs on VT-x or AMD-V.
	Hardware bool
	// Module names the KVM back end: kvm_intel, kvm_amd, kvm_pvm, or "" if none is loaded.
	Module string
}

// Describe says in a few words what the accelerator means for guest speed.
func (a Accel) Describe() string {
	switch {
	case a.Hardware:
		return "hardware virtualization (" + a.Module + "): guests run at native speed"
	case a.Module == "kvm_pvm":
		return "software KVM (kvm_pvm), no VT-x/AMD-V: guest kernel and firmware code is emulated, far slower than native"
	case a.Module == "":
		return "no KVM module loaded"
	default:
		return "KVM back end " + a.Module + " without hardware virtualization"
	}
}

// DetectAccel looks at the loaded KVM modules and the CPU flags.
func DetectAccel() Accel {
	return detectAccel("/sys/module", "/proc/cpuinfo")
}

func detectAccel(sysModule, cpuinfo string) Accel {
	var a Accel
	for _, m := range []string{"kvm_intel", "kvm_amd", "kvm_pvm"} {
		if _, err := os.Stat(sysModule + "/" + m); err == nil {
			a.Module = m
			break
		}
	}
	if a.Module == "kvm_intel" || a.Module == "kvm_amd" {
		a.Hardware = cpuHasFlag(cpuinfo, "vmx") || cpuHasFlag(cpuinfo, "svm")
	}
	return a
}

func cpuHasFlag(cpuinfo, flag string) bool {
	f, err := os.Open(cpuinfo)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		line := s.Text()
		if !strings.HasPrefix(line, "flags") {
			continue
		}
		_, list, _ := strings.Cut(line, ":")
		for _, f := range strings.Fields(list) {
			if f == flag {
				return true
			}
		}
		return false
	}
	return false
}
