package testenv

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// GoTool is the go command that builds the programs under test: the one on PATH, else the one in GOROOT.
func GoTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

// BuildPaddock builds the paddock program into dir and returns its path.
func BuildPaddock(dir string) (string, error) {
	bin := filepath.Join(dir, "paddock")
	if out, err := exec.Command(GoTool(), "build", "-o", bin, "paddock").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build paddock: %w\n%s", err, out)
	}
	return bin, nil
}

// BuildLeanVMM builds paddock-vmm, the VMM program without cgo, into dir and returns its path. Beside a paddock
// built into the same dir it is what `paddock run` hands over to, as it is once installed.
func BuildLeanVMM(dir string) (string, error) {
	bin := filepath.Join(dir, "paddock-vmm")
	cmd := exec.Command(GoTool(), "build", "-o", bin, "paddock/ui/paddock-vmm")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build paddock-vmm: %w\n%s", err, out)
	}
	return bin, nil
}

// BuildLinuxGuest runs script (tests/guest/build-linux-guest.sh, which caches its result by Debian package
// version) and returns the directory holding the guest's vmlinuz and initramfs.cpio.gz. The script's progress
// goes to progress, if not nil, and into the error if it fails.
func BuildLinuxGuest(script string, progress io.Writer) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("bash", script)
	cmd.Stderr = &stderr
	if progress != nil {
		cmd.Stderr = io.MultiWriter(&stderr, progress)
	}
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w\n%s", script, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dir := lines[len(lines)-1]
	for _, f := range []string{"vmlinuz", "initramfs.cpio.gz"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return "", fmt.Errorf("the Linux guest build left no %s: %w", f, err)
		}
	}
	return dir, nil
}

var hardwareVirtualization = regexp.MustCompile(`(?m)^flags\s*:.*\b(vmx|svm)\b`)

// WhyNoStockKernel says why this host cannot boot a stock Linux kernel (which needs hardware virtualization), or
// "" if it can.
func WhyNoStockKernel() string {
	cpuinfo, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return fmt.Sprintf("cannot read /proc/cpuinfo (%v)", err)
	}
	if !hardwareVirtualization.Match(cpuinfo) {
		return "no hardware virtualization (no vmx or svm flag in /proc/cpuinfo); a stock kernel does not boot on a software KVM"
	}
	if _, err := os.Stat("/sys/module/kvm_pvm"); err == nil {
		return "/dev/kvm is the software kvm_pvm module, where a stock kernel does not boot"
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return fmt.Sprintf("/dev/kvm is not usable (%v)", err)
	}
	f.Close()
	return ""
}
