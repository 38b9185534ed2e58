package manager

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"paddock/engine/control"
	"paddock/library"
	"paddock/tests/guests"
	"paddock/tests/testenv"
	"paddock/ui/vmctl"
)

// BenchmarkColdStart1000 measures a cold start of the manager window on a library of 1000 VMs: from opening the
// library to the list populated and laid out, as a person would first see it. The target is under a second.
func BenchmarkColdStart1000(b *testing.B) {
	const n = 1000
	home := b.TempDir()
	b.Setenv("PADDOCK_HOME", home)
	rt, err := os.MkdirTemp("", "pdkb")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(rt)
	b.Setenv("XDG_RUNTIME_DIR", rt)
	ctx := context.Background()
	lib, err := library.Open(home)
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		vm, err := lib.CreateVM(ctx, library.VMSpec{Name: fmt.Sprintf("vm-%04d", i), OS: "Debian 12", CPUs: 2, MemoryMiB: 2048})
		if err != nil {
			b.Fatal(err)
		}
		if i%10 == 0 { // some with disks, some crashed: the list reads both
			if _, err := lib.CreateDisk(ctx, vm.ID, 1<<20); err != nil {
				b.Fatal(err)
			}
			if err := lib.SetState(ctx, vm.ID, library.StateCrashed, "the VM's process ended unexpectedly"); err != nil {
				b.Fatal(err)
			}
		}
	}
	lib.Close()
	test.NewTempApp(b)

	var worst time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		lib, err := library.Open(home)
		if err != nil {
			b.Fatal(err)
		}
		q := make(chan func(), 64)
		m := New(fyne.CurrentApp(), vmctl.New(lib, ""), Options{RunOnUI: func(f func()) { q <- f },
			RefreshInterval: time.Hour, Limits: testLimits})
		for !m.loaded {
			(<-q)()
		}
		if len(m.vms) != n || m.list.Length() != n {
			b.Fatalf("list has %d VMs", len(m.vms))
		}
		m.Window().Canvas().Refresh(m.Window().Content()) // lay the visible rows out
		worst = max(worst, time.Since(start))
		go func() {
			for range q {
			}
		}()
		m.Close()
		m.Window().Close()
		close(q)
		lib.Close()
	}
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
}

// BenchmarkStartToFirstPixel measures a click on Start for a stopped VM to the guest's first pixel on its screen:
// the VMM process starting, the guest booting (a small direct-boot guest that draws at once) and its drawing
// reaching the framebuffer the window shows. It reports the median over the runs.
func BenchmarkStartToFirstPixel(b *testing.B) {
	testenv.RequireKVM(b)
	kernel := guests.Build(b, "fbpattern")
	h := newHarness(b, harnessOptions{program: paddockBinary(b)})
	vm := h.createVM(library.VMSpec{Name: "pixel", Boot: library.BootDirect, Kernel: kernel,
		Cmdline: "console=ttyS0", CPUs: 1, MemoryMiB: 128, ScreenWidth: 640, ScreenHeight: 400})
	h.refresh()
	h.m.Select(vm.ID)
	var samples []time.Duration
	for b.Loop() {
		began := time.Now()
		test.Tap(h.m.startBtn)
		var con *control.Console
		h.pump("the guest's first pixel", func() bool {
			if con == nil {
				c, err := control.OpenConsole(vmctl.SocketPath(vm))
				if err != nil {
					return false
				}
				con = c
			}
			return slices.ContainsFunc(con.Framebuffer().Memory(), func(v byte) bool { return v != 0 })
		})
		samples = append(samples, time.Since(began))
		con.Close()
		b.StopTimer()
		h.pump("the start to finish", func() bool { return h.m.busy[vm.ID] == "" })
		h.waitState(vm.ID, library.StateRunning)
		test.Tap(h.m.powerOffBtn)
		h.pump("the power off", func() bool { return h.m.busy[vm.ID] == "" })
		h.waitState(vm.ID, library.StateStopped)
		b.StartTimer()
	}
	b.ReportMetric(float64(testenv.MedianOf(samples, func(d time.Duration) time.Duration { return d }).Microseconds())/1000, "median-ms")
}
