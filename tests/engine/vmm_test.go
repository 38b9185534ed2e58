package engine_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"paddock/engine/control"
	"paddock/engine/vmm"
)

// A VM in its own process, as library VMs run: `paddock vmm` gets its spec on a descriptor, outlives the caller
// that started it, answers on its control socket from inside its sandbox, and writes the serial console to a file.
func TestVMMProcess(t *testing.T) {
	requireKVM(t)
	if paddockBuildErr != nil {
		t.Fatal(paddockBuildErr)
	}
	runtimeDir, err := os.MkdirTemp("", "pdk")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(runtimeDir)
	t.Setenv("XDG_RUNTIME_DIR", runtimeDir)
	dir := t.TempDir()
	serial := filepath.Join(dir, "serial.log")
	spec := vmm.Spec{
		Name: vmName(), Kernel: buildGuest(t, "powerbutton"), Cmdline: "console=ttyS0", CPUs: 2, MemoryMiB: 128,
		SerialLog: serial,
	}
	pid, err := vmm.Start(paddockBin, spec, filepath.Join(dir, "vmm.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if p, err := os.FindProcess(pid); err == nil {
			p.Kill()
		}
	}()
	waitFile(t, serial, "WAITING")

	c, err := control.Dial(control.SocketPath(spec.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var st control.Status
	if err := c.Call(control.OpStatus, nil, &st); err != nil {
		t.Fatal(err)
	}
	if st.PID != pid || st.State != control.StateRunning || st.VCPUs != 2 || !strings.Contains(st.Sandbox, "seccomp: ") {
		t.Fatalf("status %+v, want the VMM's pid %d, running, 2 vCPUs, sandboxed", st, pid)
	}
	if err := c.Call(control.OpStop, nil, nil); err != nil {
		t.Fatal(err)
	}
	waitFile(t, serial, "POWEROFF")
	// The process ends by itself once the guest is off.
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("VMM %d still running after the guest powered off", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A spec the VMM cannot run fails Start with the VMM's own explanation.
func TestVMMStartFailureIsExplained(t *testing.T) {
	requireKVM(t)
	if paddockBuildErr != nil {
		t.Fatal(paddockBuildErr)
	}
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	dir := t.TempDir()
	_, err := vmm.Start(paddockBin, vmm.Spec{Name: "bad", Kernel: filepath.Join(dir, "missing"), CPUs: 1, MemoryMiB: 64},
		filepath.Join(dir, "vmm.log"))
	if err == nil || !strings.Contains(err.Error(), "missing") || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("Start with a missing kernel: %v", err)
	}
}

func waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(runTimeout())
	for {
		raw, _ := os.ReadFile(path)
		if strings.Contains(string(raw), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never appeared in %s:\n%s", want, path, raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func processAlive(pid int) bool {
	// A zombie (exited, not yet reaped by its parent, this test) counts as gone.
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(raw))
	return len(f) > 2 && f[2] != "Z"
}
