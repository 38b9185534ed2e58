// Package testenv holds what Paddock's end-to-end tests and benchmarks share: whether this machine can run them
// (RequireKVM, RequireGUITools), how long a wait may last (Timeout), a private environment for the paddock
// program (Env), building the programs under test (BuildPaddock, BuildLeanVMM), a command in its own process
// group (StartProcess), a private X server (StartXvfb) and the arithmetic of benchmark results (MedianOf).
package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"paddock/engine/machine"
)

// RequireKVM skips a test without a usable /dev/kvm, or fails it when PADDOCK_REQUIRE_KVM=1 says this machine
// must have one.
func RequireKVM(tb testing.TB) {
	tb.Helper()
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err == nil {
		f.Close()
		return
	}
	if os.Getenv("PADDOCK_REQUIRE_KVM") == "1" {
		tb.Fatalf("/dev/kvm is not usable (%v) and PADDOCK_REQUIRE_KVM=1", err)
	}
	tb.Skipf("skipped: /dev/kvm is not usable here (%v); set PADDOCK_REQUIRE_KVM=1 to make this a failure", err)
}

// RequireGUITools skips a test when Xvfb or xdotool is missing, or fails it when PADDOCK_REQUIRE_GUI=1.
func RequireGUITools(tb testing.TB) {
	tb.Helper()
	for _, tool := range []string{"Xvfb", "xdotool"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("PADDOCK_REQUIRE_GUI") == "1" {
				tb.Fatalf("%s is needed for the window tests (PADDOCK_REQUIRE_GUI=1): %v", tool, err)
			}
			tb.Skipf("skipped: %s is not installed (Debian packages xvfb, xdotool); set PADDOCK_REQUIRE_GUI=1 to make this a failure", tool)
		}
	}
}

// Timeout bounds a wait: fallback, unless PADDOCK_TEST_TIMEOUT (a positive Go duration) sets it for a slow
// machine.
func Timeout(fallback time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv("PADDOCK_TEST_TIMEOUT")); err == nil && d > 0 {
		return d
	}
	return fallback
}

// SyncBuffer collects a stream (a process's output, a guest's serial line, a log) while a test reads it from
// another goroutine. The zero value is empty and ready.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Env gives a test its own PADDOCK_HOME and XDG_RUNTIME_DIR (short, since socket paths hold at most 108 bytes),
// both removed when it ends, plus each "KEY=value" of set, and inherits the rest of the environment except
// PADDOCK_LOG, whose log records would mix with the output the tests read.
func Env(tb testing.TB, set ...string) []string {
	tb.Helper()
	home := tb.TempDir()
	runtimeDir, err := os.MkdirTemp("", "pdk")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(runtimeDir) })
	env := append([]string{"PADDOCK_HOME=" + home, "XDG_RUNTIME_DIR=" + runtimeDir}, set...)
	replaced := map[string]bool{"PADDOCK_HOME": true, "XDG_RUNTIME_DIR": true, "PADDOCK_LOG": true}
	for _, kv := range set {
		k, _, _ := strings.Cut(kv, "=")
		replaced[k] = true
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !replaced[k] {
			env = append(env, kv)
		}
	}
	return env
}

// RequireFirmware returns the SeaBIOS image firmware boot uses, skipping the test when Debian's seabios package is
// missing, or failing it when PADDOCK_REQUIRE_MEDIA=1 says this machine must have what the media tests need.
func RequireFirmware(tb testing.TB) string {
	tb.Helper()
	fw, err := machine.FindFirmware()
	if err == nil {
		return fw
	}
	if os.Getenv("PADDOCK_REQUIRE_MEDIA") == "1" {
		tb.Fatalf("%v (PADDOCK_REQUIRE_MEDIA=1)", err)
	}
	tb.Skipf("skipped: %v; set PADDOCK_REQUIRE_MEDIA=1 to make this a failure", err)
	return ""
}
