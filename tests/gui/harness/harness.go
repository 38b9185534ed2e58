// Package harness runs Paddock as a person does on a desktop, for the end-to-end window tests (tests/gui) and the
// display benchmarks (tests/bench/display): a private Xvfb server, the real `paddock` binary in its own process
// group, xdotool for the mouse and keyboard, and captures of the X screen. Every wait is bounded and every
// process it starts is killed when the test ends.
package harness

import (
	"bufio"
	"bytes"
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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
	"github.com/kbinani/screenshot"

	"paddock/tests/displayengine"
)

func init() {
	// The X client library narrates the missing ~/.Xauthority that Xvfb does not need.
	xgb.Logger = log.New(io.Discard, "", 0)
}

// BuildPaddock builds the paddock binary into dir.
func BuildPaddock(dir string) (string, error) {
	bin := filepath.Join(dir, "paddock")
	goTool := "go"
	if p, err := exec.LookPath("go"); err == nil {
		goTool = p
	} else if root := os.Getenv("GOROOT"); root != "" {
		goTool = filepath.Join(root, "bin", "go")
	}
	if out, err := exec.Command(goTool, "build", "-o", bin, "paddock").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build paddock: %v\n%s", err, out)
	}
	return bin, nil
}

// RequireKVM skips a test without a usable /dev/kvm, or fails it when PADDOCK_REQUIRE_KVM=1.
func RequireKVM(tb testing.TB) {
	tb.Helper()
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err == nil {
		f.Close()
		return
	}
	if os.Getenv("PADDOCK_REQUIRE_KVM") == "1" {
		tb.Fatalf("/dev/kvm is not usable (%v) and PADDOCK_REQUIRE_KVM=1", err)
	}
	tb.Skipf("skipped: /dev/kvm is not usable here (%v); set PADDOCK_REQUIRE_KVM=1 to make this a failure", err)
}

// RequireGUITools skips a test when Xvfb or xdotool is missing, or fails it when PADDOCK_REQUIRE_GUI=1.
func RequireGUITools(tb testing.TB) {
	tb.Helper()
	for _, tool := range []string{"Xvfb", "xdotool"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("PADDOCK_REQUIRE_GUI") == "1" {
				tb.Fatalf("%s is needed for the window tests (PADDOCK_REQUIRE_GUI=1): %v", tool, err)
			}
			tb.Skipf("skipped: %s is not installed (Debian packages xvfb, xdotool); set PADDOCK_REQUIRE_GUI=1 to make this a failure", tool)
		}
	}
}

// Timeout bounds each wait; PADDOCK_TEST_TIMEOUT (a Go duration) overrides it on slow machines.
func Timeout() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("PADDOCK_TEST_TIMEOUT")); err == nil && d > 0 {
		return d
	}
	return 60 * time.Second
}

// StartXvfb starts a private X server, lets Xvfb pick a free display number, and points DISPLAY at it for the rest
// of the test. The screen is width x height at 24 bits, so guest colours reach the capture unchanged.
func StartXvfb(tb testing.TB, width, height int) string {
	tb.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var stderr lockedBuffer
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", fmt.Sprintf("%dx%dx24", width, height),
		"-nolisten", "tcp", "+xinerama")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		tb.Fatalf("start Xvfb: %v", err)
	}
	w.Close()
	tb.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	number := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		number <- strings.TrimSpace(line)
	}()
	select {
	case n := <-number:
		if _, err := strconv.Atoi(n); err != nil {
			tb.Fatalf("Xvfb did not report a display number (%q): %s", n, stderr.String())
		}
		display := ":" + n
		tb.Setenv("DISPLAY", display)
		return display
	case <-time.After(20 * time.Second):
		tb.Fatalf("Xvfb did not start within 20s: %s", stderr.String())
	}
	return ""
}

// Env gives a test its own PADDOCK_HOME and runtime directory (short, since socket paths are limited), inheriting
// the rest of the environment, DISPLAY included.
func Env(tb testing.TB) []string {
	tb.Helper()
	home := tb.TempDir()
	runtimeDir, err := os.MkdirTemp("", "pdk")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(runtimeDir) })
	env := []string{"PADDOCK_HOME=" + home, "XDG_RUNTIME_DIR=" + runtimeDir, "LIBGL_ALWAYS_SOFTWARE=1", "LANG=en_US.UTF-8"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PADDOCK_HOME", "XDG_RUNTIME_DIR", "PADDOCK_LOG", "LIBGL_ALWAYS_SOFTWARE", "LANG":
		default:
			env = append(env, kv)
		}
	}
	return env
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
// --display window` shares with its viewer), with its output collected.
type Process struct {
	tb     testing.TB
	args   []string
	cmd    *exec.Cmd
	stdout lockedBuffer
	stderr lockedBuffer
	done   chan struct{}
	code   int
}

// Start runs `bin args...` with env.
func Start(tb testing.TB, bin string, env []string, args ...string) *Process {
	tb.Helper()
	p := &Process{tb: tb, args: args, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start paddock %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		case err != nil:
			p.code = -1
		}
		close(p.done)
	}()
	tb.Cleanup(p.Kill)
	return p
}

// Run runs a paddock command to completion (bounded by Timeout) and returns its status and output.
func Run(tb testing.TB, bin string, env []string, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	p := Start(tb, bin, env, args...)
	select {
	case <-p.done:
	case <-time.After(Timeout()):
		p.Kill()
		tb.Fatalf("paddock %s did not finish within %v\n%s", strings.Join(args, " "), Timeout(), p.Describe())
	}
	return p.code, p.Stdout(), p.Stderr()
}

// PID is the process's id; with `paddock run` it is the VM's process.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Kill kills the whole process group: the VM, its viewer, anything they started. It is safe to call twice.
func (p *Process) Kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to d for the process to end and returns its status, or false if it still runs.
func (p *Process) Wait(d time.Duration) (int, bool) {
	select {
	case <-p.done:
		return p.code, true
	case <-time.After(d):
		return 0, false
	}
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
			p.tb.Fatalf("paddock exited (status %d) while waiting for %s\n%s", p.code, what, p.Describe())
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
			tb.Fatalf("paddock exited (status %d) before its window %q appeared\n%s", p.code, title, p.Describe())
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

// lockedBuffer collects a stream while tests read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
