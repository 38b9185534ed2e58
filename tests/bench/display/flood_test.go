package display_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"paddock/display"
	"paddock/engine/control"
	"paddock/tests/guests"
	"paddock/tests/gui/harness"
)

const (
	floodW, floodH = 1920, 1080
	floodSample    = 10 * time.Second
)

var guestFrames = regexp.MustCompile(`(?m)^FRAMES (\d+)\r?$`)

// floodVM boots the fbflood guest at 1920x1080 with a control socket and waits until it draws at CPL3. It
// returns the VM's process and its control socket's path.
func floodVM(b testing.TB, env []string) (*harness.Process, string) {
	p, sock, _ := floodVMNamed(b, env)
	return p, sock
}

func floodVMNamed(b testing.TB, env []string) (*harness.Process, string, string) {
	b.Helper()
	name := vmName()
	p := harness.Start(b, paddockBin, env, "run", "--kernel", guests.Build(b, "fbflood"), "--serial", "stdio",
		"--name", name, "--resolution", strconv.Itoa(floodW)+"x"+strconv.Itoa(floodH))
	p.Poll("the guest to reach CPL3 and draw", func() bool {
		out := p.Stdout()
		if strings.Contains(out, "GUEST-EXCEPTION") {
			b.Fatalf("the guest could not run its drawing loop at CPL3 on this KVM:\n%s", p.Describe())
		}
		return strings.Contains(out, "CPL3 ring=3") && guestFrames.MatchString(out)
	})
	return p, filepath.Join(harness.EnvValue(env, "XDG_RUNTIME_DIR"), "paddock", name+".sock"), name
}

// lastGuestFrames is the guest's own frame count as it last printed it.
func lastGuestFrames(out string) int64 {
	m := guestFrames.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(m[len(m)-1][1], 10, 64)
	return n
}

// BenchmarkFloodDamage: a guest redraws its whole 1920x1080 screen without pause (at CPL3, native speed), and
// this process follows it through the window's pipeline minus the drawing: control.Console's DirtyPages over the
// control socket and display.DamageTracker. "60Hz" polls at the window's refresh rate, "back-to-back" as fast as
// the socket answers. It reports screen updates seen per second (each a change the window would draw), how much
// of the screen an update covers, the guest's own frames per second, and the host CPU of the VM's process.
func BenchmarkFloodDamage(b *testing.B) {
	for _, mode := range []struct {
		name     string
		interval time.Duration
	}{{"60Hz", time.Second / 60}, {"back-to-back", 0}} {
		b.Run(mode.name, func(b *testing.B) { floodDamage(b, mode.interval) })
	}
}

func floodDamage(b *testing.B, interval time.Duration) {
	machine(b)
	env := harness.Env(b)
	for range b.N {
		p, sock := floodVM(b, env)
		console, err := control.OpenConsole(sock)
		if err != nil {
			b.Fatalf("open the VM's console: %v", err)
		}
		tracker := display.NewDamageTracker(console.Framebuffer())
		tracker.Update(tracker.All())
		bitmap := make([]uint64, (tracker.Pages()+63)/64)

		b.ResetTimer()
		cpu := startCPU(b, p.PID())
		frames0, began := lastGuestFrames(p.Stdout()), time.Now()
		updates, polls, pixels := 0, 0, int64(0)
		next := began
		for time.Since(began) < floodSample {
			if interval > 0 {
				next = next.Add(interval)
				time.Sleep(time.Until(next))
			}
			if err := console.DirtyPages(bitmap); err != nil {
				b.Fatalf("dirty pages: %v", err)
			}
			polls++
			if !slices.ContainsFunc(bitmap, func(w uint64) bool { return w != 0 }) {
				continue
			}
			rects := tracker.Update(bitmap)
			if len(rects) > 0 {
				updates++
				for _, r := range rects {
					pixels += int64(r.Dx() * r.Dy())
				}
			}
		}
		secs := time.Since(began).Seconds()
		pct := cpu.percent(b)
		frames := lastGuestFrames(p.Stdout()) - frames0
		b.StopTimer()
		console.Close()
		b.ReportMetric(float64(updates)/secs, "updates/s")
		b.ReportMetric(float64(pixels)/float64(max(updates, 1))/(floodW*floodH)*100, "%screen/update")
		b.ReportMetric(float64(polls)/secs, "polls/s")
		b.ReportMetric(float64(frames)/secs, "guest-frames/s")
		b.ReportMetric(pct[0], "vmm-%cpu")
		p.Kill()
	}
}

// BenchmarkFloodNoViewer: the same guest with nobody reading its screen, for the guest's frame rate and the VM's
// CPU when no dirty log is collected.
func BenchmarkFloodNoViewer(b *testing.B) {
	machine(b)
	env := harness.Env(b)
	for range b.N {
		p, _ := floodVM(b, env)
		b.ResetTimer()
		cpu := startCPU(b, p.PID())
		frames0, began := lastGuestFrames(p.Stdout()), time.Now()
		time.Sleep(floodSample)
		secs := time.Since(began).Seconds()
		pct := cpu.percent(b)
		frames := lastGuestFrames(p.Stdout()) - frames0
		b.StopTimer()
		b.ReportMetric(float64(frames)/secs, "guest-frames/s")
		b.ReportMetric(pct[0], "vmm-%cpu")
		p.Kill()
	}
}

// BenchmarkFloodWindowFrames: the same guest shown by the real window (ui/gui/vmwindow, in a process of this test
// binary so its frame counter can be read) under Xvfb, at 1:1. It reports the frames the window drew per second
// (at most its refresh rate, 60), the guest's frames per second, and the host CPU of the VM and of the viewer.
func BenchmarkFloodWindowFrames(b *testing.B) {
	machine(b)
	harness.RequireGUITools(b)
	harness.StartXvfb(b, 2560, 1600)
	env := harness.Env(b)
	for range b.N {
		p, sock := floodVM(b, env)
		v := startViewerProcess(b, env, sock)
		v.waitFrames(b, 1)
		time.Sleep(time.Second)

		b.ResetTimer()
		cpu := startCPU(b, p.PID(), v.cmd.Process.Pid)
		shown0, began := v.frames(), time.Now()
		guest0 := lastGuestFrames(p.Stdout())
		time.Sleep(floodSample)
		secs := time.Since(began).Seconds()
		pct := cpu.percent(b)
		shown := v.frames() - shown0
		guest := lastGuestFrames(p.Stdout()) - guest0
		b.StopTimer()
		b.ReportMetric(float64(shown)/secs, "window-frames/s")
		b.ReportMetric(float64(guest)/secs, "guest-frames/s")
		b.ReportMetric(pct[0], "vmm-%cpu")
		b.ReportMetric(pct[1], "viewer-%cpu")
		v.kill()
		p.Kill()
	}
}

// viewerProcess is this test binary running runViewer.
type viewerProcess struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	last   int64
	stderr strings.Builder
	done   chan struct{}
}

func startViewerProcess(b *testing.B, env []string, sock string) *viewerProcess {
	b.Helper()
	v := &viewerProcess{done: make(chan struct{})}
	v.cmd = exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	v.cmd.Env = slices.Concat(env, []string{viewerEnv + "=" + sock})
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := v.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	v.cmd.Stderr = &lockedWriter{mu: &v.mu, w: &v.stderr}
	if err := v.cmd.Start(); err != nil {
		b.Fatalf("start the viewer: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 3 && f[0] == "FRAMES" {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				v.mu.Lock()
				v.last = n
				v.mu.Unlock()
			}
		}
		v.cmd.Wait()
		close(v.done)
	}()
	b.Cleanup(v.kill)
	return v
}

func (v *viewerProcess) frames() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.last
}

func (v *viewerProcess) waitFrames(b *testing.B, n int64) {
	b.Helper()
	deadline := time.Now().Add(harness.Timeout())
	for v.frames() < n {
		select {
		case <-v.done:
			v.mu.Lock()
			defer v.mu.Unlock()
			b.Fatalf("the viewer exited before drawing %d frames: %s", n, v.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("the viewer drew %d of %d frames within %v", v.frames(), n, harness.Timeout())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill asks the viewer to quit (so it can write its profile), and kills it if it has not within 5 s.
func (v *viewerProcess) kill() {
	_ = syscall.Kill(v.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-v.done:
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(-v.cmd.Process.Pid, syscall.SIGKILL)
	<-v.done
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
