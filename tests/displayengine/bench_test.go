package displayengine

import (
	"image"
	"sort"
	"syscall"
	"testing"
	"time"

	"paddock/display"
)

// BenchmarkKeyToDamage measures the screen path's latency: from a key handed to the engine, through the
// i8042's interrupt, the guest's handler writing one pixel and KVM's dirty log, to that pixel showing up in a
// DamageTracker update. The display side polls every 250µs, so the figures carry up to that much extra.
func BenchmarkKeyToDamage(b *testing.B) {
	const w, h = 1024, 768
	v := boot(b, "fbpoke", w, h)
	v.waitFor(b, "KBD-READY")
	tracker := display.NewDamageTracker(v.Framebuffer())
	bitmap := make([]uint64, (tracker.Pages()+63)/64)
	if err := v.DirtyPages(bitmap); err != nil {
		b.Fatal(err)
	}
	tracker.Update(tracker.All())

	keys := []display.Key{16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 30, 31, 32, 33, 34, 35, 36, 37, 38, 44, 45, 46, 47, 48, 49, 50}
	var samples []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := keys[i%len(keys)]
		at := pokeOf(b, k)
		began := time.Now()
		if err := v.TypeKeys(display.ComboEvents([]display.Key{k})); err != nil {
			b.Fatalf("TypeKeys: %v\n%s", err, v.describe())
		}
		deadline := began.Add(5 * time.Second)
		for !damaged(b, v, tracker, bitmap, at) {
			if time.Now().After(deadline) {
				b.Fatalf("no damage at %v within 5s of the key\n%s", at, v.describe())
			}
			time.Sleep(250 * time.Microsecond)
		}
		samples = append(samples, time.Since(began))
	}
	b.StopTimer()
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	b.ReportMetric(ms(samples[len(samples)/2]), "ms-median")
	b.ReportMetric(ms(samples[min(len(samples)-1, len(samples)*99/100)]), "ms-p99")
}

// damaged reads the dirty log once and reports whether the damage covers p.
func damaged(tb testing.TB, v *vm, tracker *display.DamageTracker, bitmap []uint64, p image.Point) bool {
	if err := v.DirtyPages(bitmap); err != nil {
		tb.Fatalf("DirtyPages: %v", err)
	}
	for _, r := range tracker.Update(bitmap) {
		if p.In(r) {
			return true
		}
	}
	return false
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkIdleDisplayCPU measures what an idle guest's screen costs the host: the fbpattern guest halts after
// drawing while a 60 Hz display loop reads the dirty log and updates damage. One op is one frame; the window runs
// on untimed to at least 5 s. %cpu is this process's CPU time over the window (vCPU thread, devices and display
// loop together) as a percentage of one core; %cpu-no-display is the same over 2 s before the loop starts.
func BenchmarkIdleDisplayCPU(b *testing.B) {
	const w, h = 1024, 768
	const window = 5 * time.Second
	v := boot(b, "fbpattern", w, h)
	v.waitFor(b, "DRAWN")
	tracker := display.NewDamageTracker(v.Framebuffer())
	bitmap := make([]uint64, (tracker.Pages()+63)/64)
	if err := v.DirtyPages(bitmap); err != nil {
		b.Fatal(err)
	}
	tracker.Update(tracker.All())
	time.Sleep(200 * time.Millisecond) // let the boot's last work settle

	frames, damage := 0, 0
	frame := func(tick *time.Ticker) {
		<-tick.C
		if err := v.DirtyPages(bitmap); err != nil {
			b.Fatal(err)
		}
		damage += len(tracker.Update(bitmap))
		frames++
	}
	// The engine alone first, no display loop: what the halted guest itself costs.
	cpu0, wall0 := processCPU(b), time.Now()
	time.Sleep(2 * time.Second)
	engineOnly := 100 * float64(processCPU(b)-cpu0) / float64(time.Since(wall0))

	tick := time.NewTicker(time.Second / 60)
	defer tick.Stop()
	cpu0, wall0 = processCPU(b), time.Now()
	for b.Loop() {
		frame(tick)
	}
	for time.Since(wall0) < window {
		frame(tick)
	}
	wall := time.Since(wall0)
	pct := 100 * float64(processCPU(b)-cpu0) / float64(wall)
	if damage != 0 {
		b.Errorf("an idle guest gave %d damage rectangles in %d frames", damage, frames)
	}
	b.ReportMetric(pct, "%cpu")
	b.ReportMetric(engineOnly, "%cpu-no-display")
	b.Logf("%d frames in %v: %.2f%% of one core; %.2f%% without the display loop", frames, wall.Round(time.Millisecond), pct, engineOnly)
}

// processCPU is the user and system CPU time this process has used.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
