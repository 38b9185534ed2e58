// Package linux_test boots Debian's stock kernel with an initramfs of busybox and the kernel's own virtio modules
// (tests/guest/build-linux-guest.sh) through `paddock run`, one test per paddock.test= name. A stock kernel
// needs hardware virtualization: elsewhere these tests skip, saying why, unless PADDOCK_LINUX_TESTS=1.
package linux_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"paddock/tests/testenv"
)

var (
	skipReason string
	paddockBin string
	guestDir   string
	setupErr   error
)

func TestMain(m *testing.M) {
	skipReason = whyNot()
	var tmp string
	if skipReason == "" {
		tmp, setupErr = os.MkdirTemp("", "paddock-linux-test-")
		if setupErr == nil {
			setupErr = setup(tmp)
		}
		if setupErr != nil {
			fmt.Fprintln(os.Stderr, setupErr)
		}
	}
	code := m.Run()
	if tmp != "" {
		os.RemoveAll(tmp)
	}
	os.Exit(code)
}

// whyNot says why this host cannot run a stock Linux guest, or "" if it can (or PADDOCK_LINUX_TESTS=1 says so).
func whyNot() string {
	if os.Getenv("PADDOCK_LINUX_TESTS") == "1" {
		return ""
	}
	return testenv.WhyNoStockKernel()
}

// setup builds paddock, paddock-vmm and the Linux guest (cached by Debian package version).
func setup(tmp string) error {
	var err error
	if paddockBin, err = testenv.BuildPaddock(tmp); err != nil {
		return err
	}
	// paddock-vmm beside paddock, as installed: VMs and share servers run as it.
	if _, err := testenv.BuildLeanVMM(tmp); err != nil {
		return err
	}
	script, err := filepath.Abs("../guest/build-linux-guest.sh")
	if err != nil {
		return err
	}
	guestDir, err = testenv.BuildLinuxGuest(script, nil)
	return err
}

func ready(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skipf("skipped: %s (PADDOCK_LINUX_TESTS=1 runs them anyway)", skipReason)
	}
	if setupErr != nil {
		t.Fatalf("setting up: %v", setupErr)
	}
}

func timeout() time.Duration { return testenv.Timeout(3 * time.Minute) }

// vm is one `paddock run` of the Linux guest.
type vm struct {
	*testenv.Process
	t      *testing.T
	env    []string
	args   []string
	out    testenv.SyncBuffer
	errOut testenv.SyncBuffer
}

func newEnv(t *testing.T) []string {
	t.Helper()
	return testenv.Env(t)
}

// boot starts the guest running test name, with extra paddock run flags and kernel command-line words. The
// kernel's console is the serial port unless cmdline names consoles itself (the last one named is where /init's
// report goes, so it must be ttyS0).
func boot(t *testing.T, env []string, name string, cmdline string, extra ...string) *vm {
	t.Helper()
	ready(t)
	words := "panic=-1 paddock.test=" + name + " " + cmdline
	if !strings.Contains(cmdline, "console=") {
		words = "console=ttyS0 " + words
	}
	args := append([]string{"run",
		"--kernel", filepath.Join(guestDir, "vmlinuz"),
		"--initrd", filepath.Join(guestDir, "initramfs.cpio.gz"),
		"--append", strings.TrimSpace(words),
		"--serial", "stdio"}, extra...)
	return start(t, env, args...)
}

// start runs paddock with args (a `paddock run` whose serial console is stdio) as a vm to watch.
func start(t *testing.T, env []string, args ...string) *vm {
	t.Helper()
	ready(t)
	v := &vm{t: t, env: env, args: args}
	cmd := exec.Command(paddockBin, args...)
	cmd.Env = env
	cmd.Stdout = &v.out
	cmd.Stderr = &v.errOut
	var err error
	if v.Process, err = testenv.StartProcess(t, cmd); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v *vm) describe() string {
	return fmt.Sprintf("command: paddock %s\n--- serial ---\n%s\n--- stderr ---\n%s",
		strings.Join(v.args, " "), v.out.String(), v.errOut.String())
}

var failLine = regexp.MustCompile(`PADDOCK-TEST \S+ FAIL.*`)

// waitFor waits for want on the serial console; a FAIL report, an early exit or the timeout fails the test.
func (v *vm) waitFor(want string) {
	v.t.Helper()
	deadline := time.Now().Add(timeout())
	for !strings.Contains(v.out.String(), want) {
		if m := failLine.FindString(v.out.String()); m != "" {
			v.t.Fatalf("%s\n%s", m, v.describe())
		}
		if v.Exited() {
			v.t.Fatalf("paddock exited (status %d) before %q\n%s", v.ExitCode(), want, v.describe())
		}
		if time.Now().After(deadline) {
			v.Kill()
			v.t.Fatalf("no %q within %v; killed the VM\n%s", want, timeout(), v.describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exitsCleanly waits for paddock to end with status 0.
func (v *vm) exitsCleanly() {
	v.t.Helper()
	code, ended := v.Wait(timeout())
	if !ended {
		v.Kill()
		v.t.Fatalf("the VM did not end within %v\n%s", timeout(), v.describe())
	}
	if code != 0 {
		v.t.Fatalf("paddock exited with status %d\n%s", code, v.describe())
	}
}

func passes(t *testing.T, name, cmdline string, extra ...string) *vm {
	t.Helper()
	v := boot(t, newEnv(t), name, cmdline, extra...)
	v.waitFor("PADDOCK-TEST " + name + " PASS")
	v.exitsCleanly()
	return v
}

func TestBoot(t *testing.T)     { passes(t, "boot", "") }
func TestPoweroff(t *testing.T) { passes(t, "poweroff", "") }
func TestRng(t *testing.T)      { passes(t, "rng", "") }
func TestReboot(t *testing.T)   { passes(t, "reboot", "", "--no-reboot") }

func TestCPUs(t *testing.T) {
	for _, n := range []string{"1", "2", "4"} {
		t.Run(n, func(t *testing.T) { passes(t, "cpus", "paddock.cpus="+n, "--cpus", n) })
	}
}

func diskImage(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(path, []byte("PADDOCK-DISK-READ"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 64<<20); err != nil {
		t.Fatal(err)
	}
	return path
}

func readAt(t *testing.T, path string, off int64, n int) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBlk(t *testing.T) {
	img := diskImage(t)
	v := passes(t, "blk", "", "--disk", img)
	if !strings.Contains(v.out.String(), "sectors=131072") {
		t.Errorf("the guest did not see a 64 MiB disk\n%s", v.describe())
	}
	if got := readAt(t, img, 4096, 20); got != "PADDOCK-DISK-WRITTEN" {
		t.Errorf("after the guest's flushed write the image holds %q at 4096", got)
	}
}

func TestBlkReadOnly(t *testing.T) {
	img := diskImage(t)
	passes(t, "blk-ro", "", "--disk", img+",ro")
	if got := readAt(t, img, 4096, 1); got != "\x00" {
		t.Errorf("a read-only disk image was written: %q at 4096", got)
	}
}

func TestStop(t *testing.T) {
	env := newEnv(t)
	name := vmName()
	v := boot(t, env, "stop", "", "--name", name)
	v.waitFor("PADDOCK-TEST stop WAITING")
	v.paddock(env, "stop", name)
	v.waitFor("PADDOCK-TEST stop PASS")
	v.exitsCleanly()
}

var vmCount atomic.Int32

// vmName is a name for `paddock run --name`, unique within this test process.
func vmName() string { return fmt.Sprintf("linux%d-%d", os.Getpid(), vmCount.Add(1)) }

// paddock runs a paddock command against the running VM, failing the test (with the VM's output) if it fails.
func (v *vm) paddock(env []string, args ...string) string {
	v.t.Helper()
	out, err := paddockCommand(env, args...)
	if err != nil {
		v.t.Fatalf("%v\n%s", err, v.describe())
	}
	return out
}

// paddockCommand runs a paddock command to its end (bounded by the test timeout) and returns its output.
func paddockCommand(env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout())
	defer cancel()
	cmd := exec.CommandContext(ctx, paddockBin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("paddock %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
