// Package display_test measures the guest screen's cost and speed end to end, with the real `paddock` binary on
// /dev/kvm: host CPU while a window shows an idle guest (BenchmarkIdleWindowCPU), frames per second and host CPU
// while the fbflood guest redraws its whole 1920x1080 screen from ring 3 without pause (BenchmarkFloodDamage,
// BenchmarkFloodWindowFrames, BenchmarkFloodNoViewer), the latency from a guest's pixel write to its sight
// through the control socket (BenchmarkPixelLatency), and the window's per-frame copy (BenchmarkCopyRect1080p).
// Run them with
//
//	go test -run '^$' -bench . -benchtime 1x ./tests/bench/display/
//
// (BenchmarkPixelLatency wants more samples: -benchtime 300x). Each reports its numbers with b.ReportMetric.
// PADDOCK_BENCH_VIEWER_CPUPROFILE=FILE writes the window's CPU profile in BenchmarkFloodWindowFrames.
package display_test

import (
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"syscall"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"
	"github.com/jezek/xgb"

	"paddock/engine/control"
	"paddock/tests/gui/harness"
	"paddock/ui/gui/vmwindow"
)

var (
	paddockBin      string
	paddockBuildErr error
)

// viewerEnv makes the test binary a viewer window instead: it opens vmwindow on the control socket named by
// the variable and prints "FRAMES n" (the window's Screen.Frames) every frameReport, until killed.
const (
	viewerEnv   = "PADDOCK_BENCH_VIEWER"
	frameReport = 250 * time.Millisecond
	// viewerProfileEnv, set for a benchmark run, names a file for the viewer's CPU profile (go tool pprof).
	viewerProfileEnv = "PADDOCK_BENCH_VIEWER_CPUPROFILE"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(viewerEnv); path != "" {
		if err := runViewer(path); err != nil {
			fmt.Fprintln(os.Stderr, "viewer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "paddock-display-bench-")
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

// runViewer is the window of `paddock view`, in this process so that its frame counter can be read.
func runViewer(path string) error {
	xgb.Logger = log.New(io.Discard, "", 0)
	console, err := control.OpenConsole(path)
	if err != nil {
		return err
	}
	defer console.Close()
	a := app.NewWithID("org.paddock.Paddock.bench")
	w := vmwindow.New(a, "bench-viewer", console, vmwindow.Options{OnClose: a.Quit})
	w.Show()
	if file := os.Getenv(viewerProfileEnv); file != "" {
		f, err := os.Create(file)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		t := time.NewTicker(frameReport)
		defer t.Stop()
		for {
			select {
			case <-sig:
				fyne.Do(a.Quit)
				return
			case now := <-t.C:
				fmt.Printf("FRAMES %d %d\n", w.Screen().Frames(), now.UnixNano())
			}
		}
	}()
	a.Run()
	return nil
}

// machine is what a benchmark needs before it boots a guest: KVM and the paddock binary.
func machine(b *testing.B) {
	b.Helper()
	harness.RequireKVM(b)
	if paddockBuildErr != nil {
		b.Fatalf("the paddock binary did not build:\n%v", paddockBuildErr)
	}
}

func vmName() string { return fmt.Sprintf("b%08x", rand.Uint32()) }

// cpuMeter samples processes' CPU time.
type cpuMeter struct {
	pids  []int
	ticks []int64
	at    time.Time
}

func startCPU(b *testing.B, pids ...int) *cpuMeter {
	b.Helper()
	m := &cpuMeter{pids: pids, at: time.Now()}
	for _, pid := range pids {
		t, err := harness.CPUTicks(pid)
		if err != nil {
			b.Fatalf("CPU time of process %d: %v", pid, err)
		}
		m.ticks = append(m.ticks, t)
	}
	return m
}

// percent is each process's CPU use since startCPU, in percent of one core.
func (m *cpuMeter) percent(b *testing.B) []float64 {
	b.Helper()
	secs := time.Since(m.at).Seconds()
	var out []float64
	for i, pid := range m.pids {
		t, err := harness.CPUTicks(pid)
		if err != nil {
			b.Fatalf("CPU time of process %d: %v", pid, err)
		}
		out = append(out, float64(t-m.ticks[i])/harness.ClockTicks/secs*100)
	}
	return out
}

// percentile is the p-th percentile (0..100) of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func sortDurations(d []time.Duration) { sort.Slice(d, func(i, j int) bool { return d[i] < d[j] }) }
