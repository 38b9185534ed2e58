package manager

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"paddock/library"
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
