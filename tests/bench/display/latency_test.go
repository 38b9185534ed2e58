package display_test

import (
	"fmt"
	"image"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"paddock/display"
	"paddock/engine/control"
	"paddock/tests/guests"
	"paddock/tests/gui/harness"
)

// BenchmarkPixelLatency: the fbpoke guest inverts pixel (10c, 5c) when it reads make code c from its keyboard.
// Each operation sends the key down through control.Console and polls DirtyPages and display.DamageTracker back
// to back until a damage rectangle covers that pixel: the time from a key leaving this process to the guest's
// write being visible here. It reports the median and the 99th percentile (use -benchtime 300x or more).
func BenchmarkPixelLatency(b *testing.B) {
	machine(b)
	env := harness.Env(b)
	name := vmName()
	p := harness.Start(b, paddockBin, env, "run", "--kernel", guests.Build(b, "fbpoke"), "--serial", "stdio",
		"--name", name, "--resolution", "1024x768")
	p.WaitFor("KBD-READY")
	console, err := control.OpenConsole(filepath.Join(harness.EnvValue(env, "XDG_RUNTIME_DIR"), "paddock", name+".sock"))
	if err != nil {
		b.Fatalf("open the VM's console: %v", err)
	}
	defer console.Close()
	tracker := display.NewDamageTracker(console.Framebuffer())
	tracker.Update(tracker.All())
	bitmap := make([]uint64, (tracker.Pages()+63)/64)

	const key = display.Key(30) // A: make code 0x1e, pixel (300, 150)
	target := image.Pt(10*0x1e, 5*0x1e)
	pokes := func() int { return strings.Count(p.Stdout(), fmt.Sprintf("POKE %d %d", target.X, target.Y)) }

	latencies := make([]time.Duration, 0, b.N)
	polls := 0
	b.ResetTimer()
	for i := range b.N {
		sent := time.Now()
		if err := console.Key(key, true); err != nil {
			b.Fatalf("key down: %v", err)
		}
		for seen := false; !seen; {
			if time.Since(sent) > harness.Timeout() {
				b.Fatalf("press %d: pixel %v did not change within %v\n%s", i, target, harness.Timeout(), p.Describe())
			}
			if err := console.DirtyPages(bitmap); err != nil {
				b.Fatalf("dirty pages: %v", err)
			}
			polls++
			for _, r := range tracker.Update(bitmap) {
				seen = seen || target.In(r)
			}
		}
		latencies = append(latencies, time.Since(sent))
		b.StopTimer()
		if err := console.Key(key, false); err != nil {
			b.Fatalf("key up: %v", err)
		}
		// The guest prints after it writes: let it finish before the next press, so presses do not queue.
		p.Poll("the guest's POKE line", func() bool { return pokes() >= i+1 })
		b.StartTimer()
	}
	b.StopTimer()
	sortDurations(latencies)
	b.ReportMetric(float64(percentile(latencies, 50).Microseconds()), "median-µs")
	b.ReportMetric(float64(percentile(latencies, 99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(latencies[0].Microseconds()), "min-µs")
	b.ReportMetric(float64(polls)/float64(b.N), "polls/op")
}
