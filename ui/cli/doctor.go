package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"paddock/engine/jail"
	"paddock/engine/kvm"
	"paddock/engine/machine"
	"paddock/ui/clikit"
)

type check struct {
	level string // OK, WARN, FAIL
	what  string
	note  string
}

func doctorCommand(env Env, args []string) error {
	fs := newFlagSet(env, "doctor", "")
	if err := parse(fs, args); err != nil {
		return err
	}
	checks := doctorChecks("/dev/kvm")
	failed := false
	for _, c := range checks {
		fmt.Fprintf(env.Stdout, "%-4s  %-34s %s\n", c.level, c.what, c.note)
		failed = failed || c.level == "FAIL"
	}
	if failed {
		return clikit.ExitError{Code: 1}
	}
	return nil
}

// sandboxCheck reports the sandbox as the program that runs VMs sees it: paddock-vmm when it is installed (no
// cgo, so Landlock can cover every thread), else this program.
func sandboxCheck() (level, what, note string) {
	rep := jail.Probe()
	note = rep.String()
	if lean, ok := clikit.Beside(clikit.LeanVMMName); ok {
		if out, err := exec.Command(lean, "sandbox-report").Output(); err == nil {
			note = clikit.LeanVMMName + ": " + strings.TrimSpace(string(out))
		}
	}
	if !rep.Seccomp.Available {
		return "WARN", "VM sandbox", note
	}
	return "OK", "VM sandbox", note
}

func doctorChecks(kvmPath string) []check {
	var out []check
	add := func(level, what, note string) { out = append(out, check{level, what, note}) }

	if _, err := os.Stat(kvmPath); err != nil {
		add("FAIL", "KVM device "+kvmPath, "missing: enable virtualization in the firmware settings and load kvm_intel or kvm_amd")
	} else {
		sys, err := machine.OpenKVM(kvmPath)
		if err != nil {
			add("FAIL", "KVM device "+kvmPath, err.Error())
		} else {
			defer sys.Close()
			add("OK", "KVM device "+kvmPath, "opened, API version 12")
			for _, c := range []struct {
				name string
				cap  int
			}{
				{"in-kernel irqchip", kvm.CapIRQChip}, {"in-kernel PIT", kvm.CapPIT2},
				{"user memory slots", kvm.CapUserMemory}, {"MSI injection", kvm.CapSignalMSI},
				{"irqfd", kvm.CapIRQFD}, {"ioeventfd", kvm.CapIOEventFD}, {"immediate exit", kvm.CapImmediateExit},
			} {
				if sys.CheckExtension(c.cap) > 0 {
					add("OK", "KVM capability: "+c.name, "")
				} else {
					add("FAIL", "KVM capability: "+c.name, "missing; the engine needs it")
				}
			}
			add("OK", "KVM vCPU limit", fmt.Sprintf("%d per VM (recommended %d)", sys.CheckExtension(kvm.CapMaxVCPUs), sys.CheckExtension(kvm.CapNrVCPUs)))
		}
	}
	a := kvm.DetectAccel()
	if a.Hardware {
		add("OK", "hardware virtualization", a.Describe())
	} else {
		add("WARN", "hardware virtualization", a.Describe()+"; the engine picks the baseline CPU model")
	}
	add(sandboxCheck())
	if fw, err := machine.FindFirmware(); err != nil {
		add("WARN", "SeaBIOS firmware", err.Error()+": needed to boot ISOs and installed disks")
	} else if vga := filepath.Join(filepath.Dir(fw), "vgabios-ramfb.bin"); !regularFile(vga) {
		add("WARN", "SeaBIOS firmware", fw+", but no "+vga+": firmware boot shows nothing on the screen")
	} else {
		add("OK", "SeaBIOS firmware", fw+", with its display "+vga)
	}
	if avail, err := machine.HostAvailableMiB(); err != nil {
		add("WARN", "free memory", err.Error())
	} else if avail < 1024 {
		add("WARN", "free memory", fmt.Sprintf("%d MiB available: little room for guests", avail))
	} else {
		add("OK", "free memory", fmt.Sprintf("%d MiB available for guests", avail))
	}
	return out
}

func regularFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
