package display_test

import (
	"testing"
	"time"

	"paddock/tests/guests"
	"paddock/tests/gui/harness"
)

// idleSample is how long the idle benchmark watches the processes.
const idleSample = 10 * time.Second

// BenchmarkIdleWindowCPU: `paddock run --display window` of a guest that drew its screen once and halted, under
// Xvfb. Once the window shows the guest, it samples the CPU time of the VM's process and of its viewer over
// idleSample: an idle guest should cost next to nothing (DESIGN.md: damage comes from the dirty log).
func BenchmarkIdleWindowCPU(b *testing.B) {
	machine(b)
	harness.RequireGUITools(b)
	harness.StartXvfb(b, 1280, 1024)
	env := harness.Env(b)
	kernel := guests.Build(b, "fbpattern")
	for range b.N {
		name := vmName()
		p := harness.Start(b, paddockBin, env, "run", "--kernel", kernel, "--serial", "stdio", "--display", "window",
			"--name", name, "--resolution", "1024x768")
		p.WaitFor("DRAWN")
		harness.FindWindow(b, p, name)
		var viewer int
		p.Poll("the viewer process", func() bool {
			kids := harness.Children(p.PID())
			if len(kids) > 0 {
				viewer = kids[0]
			}
			return viewer != 0
		})
		time.Sleep(2 * time.Second) // past the first frames and the window's start-up
		b.ResetTimer()
		cpu := startCPU(b, p.PID(), viewer)
		time.Sleep(idleSample)
		pct := cpu.percent(b)
		b.StopTimer()
		b.ReportMetric(pct[0], "vmm-%cpu")
		b.ReportMetric(pct[1], "viewer-%cpu")
		b.ReportMetric(pct[0]+pct[1], "total-%cpu")
		p.Kill()
	}
}
