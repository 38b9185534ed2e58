// Package harness runs Paddock as a person does on a desktop, for the end-to-end window tests (tests/gui) and the
// display benchmarks (tests/bench/display): a private Xvfb server, the real `paddock` binary in its own process
// group, xdotool for the mouse and keyboard, and captures of the X screen. Every wait is bounded and every
// process it starts is killed when the test ends.
package harness

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
	"github.com/kbinani/screenshot"

	"paddock/tests/displayengine"
	"paddock/tests/testenv"
)

func init() {
	// The X client library narrates the missing ~/.Xauthority that Xvfb does not need.
	xgb.Logger = log.New(io.Discard, "", 0)
}

// BuildPaddock builds the paddock binary into dir.
func BuildPaddock(dir string) (string, error) { return testenv.BuildPaddock(dir) }

// RequireKVM skips a test without a usable /dev/kvm, or fails it when PADDOCK_REQUIRE_KVM=1.
func RequireKVM(tb testing.TB) {
	tb.Helper()
	testenv.RequireKVM(tb)
}

// RequireGUITools skips a test when Xvfb or xdotool is missing, or fails it when PADDOCK_REQUIRE_GUI=1.
func RequireGUITools(tb testing.TB) {
	tb.Helper()
	testenv.RequireGUITools(tb)
}

// Timeout bounds each wait; PADDOCK_TEST_TIMEOUT (a Go duration) overrides it on slow machines.
func Timeout() time.Duration { return testenv.Timeout(60 * time.Second) }

// StartXvfb starts a private X server of width x height at 24 bits and points DISPLAY at it for the rest of the
// test; it returns the display.
func StartXvfb(tb testing.TB, width, height int) string {
	tb.Helper()
	return testenv.StartXvfb(tb, width, height)
}

// Env gives a test its own PADDOCK_HOME and runtime directory (short, since socket paths are limited), inheriting
// the rest of the environment, DISPLAY included.
func Env(tb testing.TB) []string {
	tb.Helper()
	return testenv.Env(tb, "LIBGL_ALWAYS_SOFTWARE=1", "LANG=en_US.UTF-8")
}

// EnvValue is the value of key in env.
func EnvValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// Process is one paddock command running in the background in its own process group (which a `paddock run
// --display window` shares with its viewer), with its output collected. Its process group is killed when the
// test ends.
type Process struct {
	*testenv.Process
	tb     testing.TB
	args   []string
	stdout testenv.SyncBuffer
	stderr testenv.SyncBuffer
}

// Start runs `bin args...` with env.
func Start(tb testing.TB, bin string, env []string, args ...string) *Process {
	tb.Helper()
	p := &Process{tb: tb, args: args}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout = &p.stdout
	cmd.Stderr = &p.stderr
	var err error
	if p.Process, err = testenv.StartProcess(tb, cmd); err != nil {
		tb.Fatalf("start paddock %s: %v", strings.Join(args, " "), err)
	}
	return p
}

// Run runs a paddock command to completion (bounded by Timeout) and returns its status and output.
func Run(tb testing.TB, bin string, env []string, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	p := Start(tb, bin, env, args...)
	code, ended := p.Wait(Timeout())
	if !ended {
		p.Kill()
		tb.Fatalf("paddock %s did not finish within %v\n%s", strings.Join(args, " "), Timeout(), p.Describe())
	}
	return code, p.Stdout(), p.Stderr()
}

// Stdout is everything the process printed (with `--serial stdio`, the guest's COM1).
func (p *Process) Stdout() string { return p.stdout.String() }

// Stderr is the process's error output.
func (p *Process) Stderr() string { return p.stderr.String() }

// Describe is what a failure shows: the command and its output so far.
func (p *Process) Describe() string {
	return fmt.Sprintf("command: paddock %s\n--- serial/stdout ---\n%s\n--- stderr ---\n%s",
		strings.Join(p.args, " "), p.Stdout(), p.Stderr())
}

// WaitFor waits until the process's output has a line equal to want (trailing \r ignored).
func (p *Process) WaitFor(want string) {
	p.tb.Helper()
	p.Poll("the line "+strconv.Quote(want), func() bool {
		for _, l := range strings.Split(p.Stdout(), "\n") {
			if strings.TrimRight(l, "\r") == want {
				return true
			}
		}
		return false
	})
}

// Poll waits for cond, checking that the process still runs; it fails the test after Timeout.
func (p *Process) Poll(what string, cond func() bool) {
	p.tb.Helper()
	deadline := time.Now().Add(Timeout())
	for !cond() {
		if p.Exited() {
			p.tb.Fatalf("paddock exited (status %d) while waiting for %s\n%s", p.ExitCode(), what, p.Describe())
		}
		if time.Now().After(deadline) {
			p.tb.Fatalf("timed out after %v waiting for %s\n%s", Timeout(), what, p.Describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Children are the ids of the processes whose parent is pid (the viewer of a `paddock run --display window`).
func Children(pid int) []int {
	var kids []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				kids = append(kids, n)
			}
		}
	}
	return kids
}

// CPUTicks is the user plus system time a process has used, in clock ticks (fields 14 and 15 of /proc/PID/stat).
func CPUTicks(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name in parentheses may hold spaces: count fields after its closing parenthesis.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return utime + stime, nil
}

// ClockTicks is the kernel's USER_HZ, the unit of CPUTicks: 100 on every Linux architecture Paddock runs on.
const ClockTicks = 100

// Xdotool runs xdotool on the test's X server and returns its output.
func Xdotool(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command("xdotool", args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("xdotool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// FindWindow waits until a window titled exactly title exists and returns its id.
func FindWindow(tb testing.TB, p *Process, title string) string {
	tb.Helper()
	var id string
	deadline := time.Now().Add(Timeout())
	for {
		out, err := exec.Command("xdotool", "search", "--name", "^"+regexp.QuoteMeta(title)+"$").Output()
		if id, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n"); err == nil && id != "" {
			return id
		}
		if p.Exited() {
			tb.Fatalf("paddock exited (status %d) before its window %q appeared\n%s", p.ExitCode(), title, p.Describe())
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no window titled %q after %v; the VM's child processes: %s\n%s", title, Timeout(),
				describeProcesses(Children(p.PID())), p.Describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// describeProcesses says what each process is and what state it is in, for a failure message.
func describeProcesses(pids []int) string {
	if len(pids) == 0 {
		return "none"
	}
	var parts []string
	for _, pid := range pids {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		state := "?"
		if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
			for _, l := range strings.Split(string(status), "\n") {
				if v, ok := strings.CutPrefix(l, "State:"); ok {
					state = strings.TrimSpace(v)
				}
			}
		}
		parts = append(parts, fmt.Sprintf("%d %q (%s)", pid, strings.ReplaceAll(string(cmdline), "\x00", " "), state))
	}
	return strings.Join(parts, "; ")
}

// WindowGeometry is the window's inside, in screen coordinates.
func WindowGeometry(tb testing.TB, win string) image.Rectangle {
	tb.Helper()
	vals := map[string]int{}
	for _, line := range strings.Split(Xdotool(tb, "getwindowgeometry", "--shell", win), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if n, err := strconv.Atoi(v); ok && err == nil {
			vals[k] = n
		}
	}
	return image.Rect(vals["X"], vals["Y"], vals["X"]+vals["WIDTH"], vals["Y"]+vals["HEIGHT"])
}

// Capture is the whole X screen now.
func Capture(tb testing.TB) *image.RGBA {
	tb.Helper()
	img, err := screenshot.CaptureDisplay(0)
	if err != nil {
		tb.Fatalf("capture the X screen: %v", err)
	}
	return img
}

// FindPattern finds the guests' test pattern (displayengine.PatternPixel) shown at 1:1 for a width x height
// screen: the top-left pixel of a border-coloured run that has the band below-right of it and the border's far
// corner where it belongs. It returns the pattern's rectangle on the screen.
func FindPattern(img *image.RGBA, width, height int) (image.Rectangle, bool) {
	border := displayengine.XRGB(displayengine.PatternBorder)
	band := displayengine.XRGB(displayengine.PatternBand)
	b := img.Bounds()
	for y := b.Min.Y; y+height <= b.Max.Y; y++ {
		for x := b.Min.X; x+width <= b.Max.X; x++ {
			if img.RGBAAt(x, y) != border || img.RGBAAt(x+1, y+1) != band {
				continue
			}
			if img.RGBAAt(x+width-1, y+height-1) == border && img.RGBAAt(x+width-1, y) == border &&
				img.RGBAAt(x, y+height-1) == border {
				return image.Rect(x, y, x+width, y+height), true
			}
		}
	}
	return image.Rectangle{}, false
}

// Crop copies r out of img into an image whose origin is (0, 0).
func Crop(img *image.RGBA, r image.Rectangle) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := 0; y < r.Dy(); y++ {
		copy(out.Pix[y*out.Stride:y*out.Stride+4*r.Dx()], img.Pix[img.PixOffset(r.Min.X, r.Min.Y+y):])
	}
	return out
}

// Near reports whether two colours differ by at most tol in each channel.
func Near(a, b color.RGBA, tol int) bool {
	d := func(x, y uint8) int { return max(int(x)-int(y), int(y)-int(x)) }
	return d(a.R, b.R) <= tol && d(a.G, b.G) <= tol && d(a.B, b.B) <= tol
}

// CloseWindow asks the window to close as a window manager's close button does: a WM_DELETE_WINDOW message of
// the WM_PROTOCOLS kind. (xdotool's windowclose destroys the window and windowkill kills the X client instead;
// neither is what a person does.)
func CloseWindow(tb testing.TB, display, win string) {
	tb.Helper()
	id, err := strconv.ParseUint(strings.TrimSpace(win), 0, 32)
	if err != nil {
		tb.Fatalf("window id %q: %v", win, err)
	}
	conn, err := xgb.NewConnDisplay(display)
	if err != nil {
		tb.Fatalf("connect to X %s: %v", display, err)
	}
	defer conn.Close()
	atom := func(name string) xproto.Atom {
		r, err := xproto.InternAtom(conn, false, uint16(len(name)), name).Reply()
		if err != nil {
			tb.Fatalf("X atom %s: %v", name, err)
		}
		return r.Atom
	}
	protocols, del := atom("WM_PROTOCOLS"), atom("WM_DELETE_WINDOW")
	ev := xproto.ClientMessageEvent{
		Format: 32,
		Window: xproto.Window(id),
		Type:   protocols,
		Data:   xproto.ClientMessageDataUnionData32New([]uint32{uint32(del), uint32(xproto.TimeCurrentTime), 0, 0, 0}),
	}
	if err := xproto.SendEventChecked(conn, false, xproto.Window(id), xproto.EventMaskNoEvent, string(ev.Bytes())).Check(); err != nil {
		tb.Fatalf("send WM_DELETE_WINDOW to window %s: %v", win, err)
	}
}
