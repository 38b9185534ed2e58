package manager

import (
	"context"
	"fmt"
	"image/color"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"paddock/engine/control"
	"paddock/library"
	"paddock/tests/displayengine"
	"paddock/tests/guests"
	"paddock/tests/testenv"
	"paddock/ui/vmctl"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	binErr    error
)

// paddockBinary builds the paddock program once per test run: the VMMs the window starts are its `vmm` command.
func paddockBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "paddock-manager-test-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "paddock")
		goTool := "go"
		if p, err := exec.LookPath("go"); err == nil {
			goTool = p
		} else if root := os.Getenv("GOROOT"); root != "" {
			goTool = filepath.Join(root, "bin", "go")
		}
		if out, err := exec.Command(goTool, "build", "-o", binPath, "paddock").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build paddock: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// waitState refreshes the window until the VM's row shows want.
func (h *harness) waitState(id string, want library.State) library.VM {
	h.t.Helper()
	deadline := time.Now().Add(testTimeout())
	for {
		h.refresh()
		vm, ok := h.m.vm(id)
		if ok && vm.State == want && h.m.busy[id] == "" {
			return vm
		}
		if time.Now().After(deadline) {
			vmmLog, _ := os.ReadFile(filepath.Join(h.lib.VMDir(id), vmctl.VMMLogName))
			h.t.Fatalf("VM state %s (%s), want %s; notice %q\nVMM log:\n%s", vm.State, vm.LastError, want, h.m.Notice(), vmmLog)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A real VM, started, watched, powered off, killed and started again from the window.
func TestRealVMFromTheWindow(t *testing.T) {
	testenv.RequireKVM(t)
	const w, hgt = 640, 400
	kernel := guests.Build(t, "fbpattern")
	h := newHarness(t, harnessOptions{program: paddockBinary(t)})
	ctx := context.Background()
	vm := h.createVM(library.VMSpec{Name: "pattern", Boot: library.BootDirect, Kernel: kernel,
		Cmdline: "console=ttyS0", CPUs: 1, MemoryMiB: 128, ScreenWidth: w, ScreenHeight: hgt})
	h.refresh()
	h.m.Select(vm.ID)

	test.Tap(h.m.startBtn)
	h.pump("the start", func() bool { return h.m.busy[vm.ID] == "" })
	h.waitState(vm.ID, library.StateRunning)
	if got := h.row("pattern").state.Text; got != "Running" {
		t.Errorf("row says %q", got)
	}

	// The thumbnail shows the pattern: its 8 bars, in order, in their colours.
	bars := func() error {
		img := h.m.Thumbnail(vm.ID)
		if img == nil {
			return fmt.Errorf("no thumbnail")
		}
		b := img.Bounds()
		if b.Dx() != ThumbWidth || b.Dy() != ThumbWidth*hgt/w {
			return fmt.Errorf("thumbnail is %v, want %dx%d", b, ThumbWidth, ThumbWidth*hgt/w)
		}
		for i, c := range displayengine.PatternBars {
			x := (2*i + 1) * b.Dx() / 16
			got := color.RGBAModel.Convert(img.At(x, b.Dy()*3/4)).(color.RGBA)
			if want := displayengine.XRGB(c); !near(got, want, 8) {
				return fmt.Errorf("bar %d at x=%d is %v, want %v", i, x, got, want)
			}
		}
		return nil
	}
	var last error
	h.pump("the pattern in the thumbnail", func() bool { last = bars(); return last == nil })
	if r := h.row("pattern"); r.thumb.Hidden || r.thumb.Image == nil {
		t.Error("the row does not show the thumbnail")
	}

	// Pause and resume: the row and the button follow.
	test.Tap(h.m.pauseBtn)
	h.pump("the pause", func() bool { return h.m.busy[vm.ID] == "" })
	h.waitState(vm.ID, library.StatePaused)
	if got := h.row("pattern").state.Text; got != "Paused" || h.m.pauseBtn.Text != "Resume" {
		t.Errorf("paused: row says %q, button %q", got, h.m.pauseBtn.Text)
	}
	test.Tap(h.m.pauseBtn)
	h.pump("the resume", func() bool { return h.m.busy[vm.ID] == "" })
	h.waitState(vm.ID, library.StateRunning)
	if h.m.pauseBtn.Text != "Pause" {
		t.Errorf("after resume the button says %q", h.m.pauseBtn.Text)
	}

	// Power off: stopped.
	test.Tap(h.m.powerOffBtn)
	h.pump("the power off", func() bool { return h.m.busy[vm.ID] == "" })
	h.waitState(vm.ID, library.StateStopped)

	// Start again, then kill the VMM outright: crashed, with the reason.
	test.Tap(h.m.startBtn)
	h.pump("the second start", func() bool { return h.m.busy[vm.ID] == "" })
	running := h.waitState(vm.ID, library.StateRunning)
	cl, err := vmctl.Dial(running)
	if err != nil {
		t.Fatal(err)
	}
	var st control.Status
	err = cl.Call(control.OpStatus, nil, &st)
	cl.Close()
	if err != nil || st.PID <= 0 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	crashed := h.waitState(vm.ID, library.StateCrashed)
	if got := h.row("pattern").state.Text; !contains(got, "Crashed: ") || crashed.LastError == "" {
		t.Errorf("after kill -9 the row says %q (last error %q)", got, crashed.LastError)
	}
	if !contains(h.m.Notice(), "pattern crashed") {
		t.Errorf("notice %q", h.m.Notice())
	}

	// And it starts again, with the pattern back.
	test.Tap(h.m.startBtn)
	h.pump("the restart", func() bool { return h.m.busy[vm.ID] == "" })
	h.waitState(vm.ID, library.StateRunning)
	h.pump("the pattern after the restart", func() bool { last = bars(); return last == nil })
	test.Tap(h.m.powerOffBtn)
	h.pump("the last power off", func() bool { return h.m.busy[vm.ID] == "" })
	final := h.waitState(vm.ID, library.StateStopped)

	// The library is intact.
	got, err := h.lib.GetVM(ctx, vm.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.VMSpec != final.VMSpec || got.Name != "pattern" || got.Kernel != kernel || got.LastError != "" {
		t.Errorf("library after the run: %+v", got)
	}
}

func near(a, b color.RGBA, tol int) bool {
	d := func(x, y uint8) bool { v := int(x) - int(y); return v <= tol && v >= -tol }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B)
}
