// Package gui_test runs `paddock run --display window` on a private Xvfb server with real test guests on
// /dev/kvm, and checks the window as a person would: the guest's screen in it pixel for pixel, scaled with its
// aspect ratio kept when the window is resized, keys typed and the mouse used in it reaching the guest's own
// drivers, and closing it ending the VM.
package gui_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"time"

	"paddock/tests/guests"
	"paddock/tests/gui/harness"
)

var (
	paddockBin      string
	paddockBuildErr error
)

// TestMain builds the paddock binary once for every test in this package.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "paddock-gui-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	paddockBin, paddockBuildErr = harness.BuildPaddock(dir)
	if paddockBuildErr != nil {
		fmt.Fprintln(os.Stderr, paddockBuildErr)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// desktop is what every window test needs: KVM, the X tools, a private X server, the paddock binary and a
// private environment. It returns the X display and the environment.
func desktop(t *testing.T) (string, []string) {
	t.Helper()
	harness.RequireGUITools(t)
	harness.RequireKVM(t)
	if paddockBuildErr != nil {
		t.Fatalf("the paddock binary did not build:\n%v", paddockBuildErr)
	}
	display := harness.StartXvfb(t, screenW, screenH)
	return display, harness.Env(t)
}

// The X screen: large enough that an 800x600 guest opens at 1:1 (the window opens at most at 90% of it).
const screenW, screenH = 1280, 1024

func vmName() string { return fmt.Sprintf("g%08x", rand.Uint32()) }

// runWindow starts `paddock run --display window` of a test guest and waits for the window.
func runWindow(t *testing.T, env []string, guest, name string, extra ...string) (*harness.Process, string) {
	t.Helper()
	args := append([]string{"run", "--kernel", guests.Build(t, guest), "--serial", "stdio", "--display", "window",
		"--name", name}, extra...)
	p := harness.Start(t, paddockBin, env, args...)
	win := harness.FindWindow(t, p, name)
	return p, win
}

// waitGone waits (bounded) until gone reports true.
func waitGone(t *testing.T, what string, gone func() bool) {
	t.Helper()
	deadline := time.Now().Add(harness.Timeout())
	for !gone() {
		if time.Now().After(deadline) {
			t.Fatalf("%s is still there after %v", what, harness.Timeout())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func execOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return string(out), err
}

// settle gives events still on their way time to arrive, so that extra ones show up as a failure.
func settle() { time.Sleep(300 * time.Millisecond) }
