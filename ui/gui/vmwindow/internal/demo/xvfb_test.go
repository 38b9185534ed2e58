package main

import (
	"bufio"
	"fmt"
	"image"
	"io"
	"log"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/kbinani/screenshot"

	"paddock/tests/testenv"
	"paddock/ui/gui/vmwindow/internal/fakeconsole"
)

// The test binary doubles as the demo: with helperEnv set it opens the window instead of running tests.
const (
	helperEnv   = "PADDOCK_VMWINDOW_DEMO"
	windowTitle = "paddock-xvfb-test"
	guestW      = 640
	guestH      = 400
)

func TestMain(m *testing.M) {
	xgb.Logger = log.New(io.Discard, "", 0) // the X client library complains of the missing cookie Xvfb needs not
	if os.Getenv(helperEnv) == "1" {
		if err := run(config{title: windowTitle, width: guestW, height: guestH}); err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRealWindowUnderXvfb opens the window on a real X server and checks it as a person would: the pattern is on
// the screen, pixel for pixel, a click and typed keys reach the guest, and after a resize the pattern is still
// there, scaled with its aspect ratio kept.
func TestRealWindowUnderXvfb(t *testing.T) {
	testenv.RequireGUITools(t)
	testenv.StartXvfb(t, 1280, 800)
	demo := startDemo(t)

	win := waitForWindow(t, demo)
	geo := windowGeometry(t, win)

	// At its first size the window holds the guest at 1:1.
	rect := waitForPattern(t, demo, "the pattern at 1:1", func(r image.Rectangle, _ *image.RGBA) bool {
		return r.Dx() == guestW && r.Dy() == guestH
	})
	if !rect.In(geo) {
		t.Fatalf("pattern %v is not inside the window %v", rect, geo)
	}
	img := capture(t)
	for _, p := range [][2]int{{16, 16}, {17, 16}, {16, 17}, {47, 47}, {46, 47}} {
		want := fakeconsole.Black
		if (p[0]+p[1])%2 == 0 {
			want = fakeconsole.White
		}
		if got := img.RGBAAt(rect.Min.X+p[0], rect.Min.Y+p[1]); got != want {
			t.Errorf("checkerboard pixel %v shows %v, want %v: not pixel-sharp at 1:1", p, got, want)
		}
	}

	// A click in the middle lands on the guest's middle pixel and gives the guest the keyboard.
	mid := rect.Min.Add(image.Pt(guestW/2, guestH/2))
	xdotool(t, "mousemove", "--sync", strconv.Itoa(mid.X), strconv.Itoa(mid.Y))
	xdotool(t, "click", "1")
	demo.waitFor(t, "pointer 320 200 1 0", "pointer 320 200 0 0")

	xdotool(t, "key", "a")
	demo.waitFor(t, "key 30 down", "key 30 up")
	xdotool(t, "key", "Tab") // would move Fyne's focus, were it not for the guest
	demo.waitFor(t, "key 15 down", "key 15 up")
	xdotool(t, "key", "ctrl+c") // Fyne's copy shortcut
	demo.waitFor(t, "key 29 down", "key 46 down", "key 46 up", "key 29 up")

	// Held down, a key repeats at the host's typematic rate, then comes up once.
	xdotool(t, "keydown", "a")
	demo.poll(t, "typematic repeats of a held key", func() bool { return demo.count("key 30 down") >= 4 })
	xdotool(t, "keyup", "a")
	demo.poll(t, "the held key's release", func() bool { return demo.count("key 30 up") == 2 })

	// Ctrl+Alt+G takes the keyboard back: Ctrl and Alt are released in the guest, G and later keys stay out.
	xdotool(t, "key", "ctrl+alt+g")
	demo.waitFor(t, "key 29 up", "key 56 up")
	xdotool(t, "key", "b")
	xdotool(t, "click", "1")
	xdotool(t, "key", "c")
	demo.waitFor(t, "key 46 down")
	if demo.saw("key 34 down") || demo.saw("key 48 down") {
		t.Fatalf("keys reached the guest after Ctrl+Alt+G:\n%s", demo.text())
	}

	// Resized wider than the guest's shape: the pattern grows, keeps its aspect ratio, sits centred.
	xdotool(t, "windowsize", win, "1000", "560")
	rect = waitForPattern(t, demo, "the pattern scaled up", func(r image.Rectangle, _ *image.RGBA) bool {
		return r.Dx() > guestW+50
	})
	checkScaled(t, rect, windowGeometry(t, win))

	// And smaller than the guest: scaled down, still whole.
	xdotool(t, "windowsize", win, "900", "300")
	rect = waitForPattern(t, demo, "the pattern scaled down", func(r image.Rectangle, _ *image.RGBA) bool {
		return r.Dx() < guestW-100
	})
	checkScaled(t, rect, windowGeometry(t, win))
}

// checkScaled checks the pattern keeps the guest's aspect ratio and is letterboxed: centred left to right in the
// window, reaching its bottom edge.
func checkScaled(t *testing.T, r, win image.Rectangle) {
	t.Helper()
	aspect := float64(r.Dx()) / float64(r.Dy())
	if want := float64(guestW) / guestH; aspect < want*0.98 || aspect > want*1.02 {
		t.Errorf("pattern %v has aspect %.3f, want %.3f", r, aspect, want)
	}
	left, right := r.Min.X-win.Min.X, win.Max.X-r.Max.X
	if left < 10 || abs(left-right) > 2 {
		t.Errorf("pattern %v is not centred in the window %v (bars %d and %d)", r, win, left, right)
	}
	if abs(win.Max.Y-r.Max.Y) > 2 {
		t.Errorf("pattern %v does not reach the window's bottom %d", r, win.Max.Y)
	}
}

func abs(v int) int { return max(v, -v) }

// demoProcess is the window under test, in its own process, with its output lines.
type demoProcess struct {
	mu     sync.Mutex
	lines  []string
	stderr testenv.SyncBuffer
	exited chan struct{} // closed when the process has ended
}

func startDemo(t *testing.T) *demoProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "LIBGL_ALWAYS_SOFTWARE=1", "LANG=en_US.UTF-8")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &demoProcess{exited: make(chan struct{})}
	cmd.Stderr = &d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the demo window: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			d.mu.Lock()
			d.lines = append(d.lines, sc.Text())
			d.mu.Unlock()
		}
		cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-d.exited
		if t.Failed() {
			t.Logf("demo output:\n%s\ndemo errors:\n%s", d.text(), d.stderr.String())
		}
	})
	return d
}

func (d *demoProcess) saw(line string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Contains(d.lines, line)
}

func (d *demoProcess) count(line string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, l := range d.lines {
		if l == line {
			n++
		}
	}
	return n
}

func (d *demoProcess) text() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.lines, "\n")
}

// waitFor waits until the demo has printed each line.
func (d *demoProcess) waitFor(t *testing.T, lines ...string) {
	t.Helper()
	d.poll(t, fmt.Sprintf("the guest to receive %q", lines), func() bool {
		for _, l := range lines {
			if !d.saw(l) {
				return false
			}
		}
		return true
	})
}

// poll waits for cond while the demo runs; explain, if given, says what was last seen.
func (d *demoProcess) poll(t *testing.T, what string, cond func() bool, explain ...func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		select {
		case <-d.exited:
			t.Fatalf("the demo window exited while waiting for %s (no GL under Xvfb? see its errors below)", what)
		default:
		}
		if time.Now().After(deadline) {
			detail := ""
			for _, e := range explain {
				detail += ": " + e()
			}
			t.Fatalf("timed out waiting for %s%s", what, detail)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func xdotool(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("xdotool", args...).Output()
	if err != nil {
		t.Fatalf("xdotool %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

func waitForWindow(t *testing.T, d *demoProcess) string {
	t.Helper()
	var id string
	d.poll(t, "the window to appear (a GL error below means Mesa is missing)", func() bool {
		out, err := exec.Command("xdotool", "search", "--name", "^"+windowTitle+"$").Output()
		if err != nil {
			return false
		}
		id, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
		return id != ""
	})
	return id
}

// windowGeometry is the window's inside on the screen.
func windowGeometry(t *testing.T, win string) image.Rectangle {
	t.Helper()
	vals := map[string]int{}
	for _, line := range strings.Split(xdotool(t, "getwindowgeometry", "--shell", win), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if n, err := strconv.Atoi(v); ok && err == nil {
			vals[k] = n
		}
	}
	return image.Rect(vals["X"], vals["Y"], vals["X"]+vals["WIDTH"], vals["Y"]+vals["HEIGHT"])
}

func capture(t *testing.T) *image.RGBA {
	t.Helper()
	img, err := screenshot.CaptureDisplay(0)
	if err != nil {
		t.Fatalf("capture the X screen: %v", err)
	}
	return img
}

// waitForPattern captures the screen until the test pattern is found and ok accepts it.
func waitForPattern(t *testing.T, d *demoProcess, what string, ok func(image.Rectangle, *image.RGBA) bool) image.Rectangle {
	t.Helper()
	var found, last image.Rectangle
	lastErr := "no capture yet"
	d.poll(t, what, func() bool {
		img, err := screenshot.CaptureDisplay(0)
		if err != nil {
			lastErr = err.Error()
			return false
		}
		r, present := findPattern(img)
		switch {
		case !present:
			lastErr = "pattern not on the screen"
		case !ok(r, img):
			lastErr, last = "pattern at the wrong place or size", r
		default:
			found = r
			return true
		}
		return false
	}, func() string { return fmt.Sprintf("%s; last seen at %v", lastErr, last) })
	return found
}

// findPattern finds the four-colour pattern on the screen: the box from the red quadrant's top-left to the yellow
// one's bottom-right, with green and blue where they belong.
func findPattern(img *image.RGBA) (image.Rectangle, bool) {
	var red, yellow image.Rectangle
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := img.RGBAAt(x, y)
			px := image.Rect(x, y, x+1, y+1)
			switch {
			case c.R > 200 && c.G < 50 && c.B < 50:
				red = red.Union(px)
			case c.R > 200 && c.G > 200 && c.B < 50:
				yellow = yellow.Union(px)
			}
		}
	}
	if red.Empty() || yellow.Empty() {
		return image.Rectangle{}, false
	}
	r := red.Union(yellow)
	quarter := image.Pt(r.Dx()/4, r.Dy()/4)
	green := img.RGBAAt(r.Max.X-quarter.X, r.Min.Y+quarter.Y)
	blue := img.RGBAAt(r.Min.X+quarter.X, r.Max.Y-quarter.Y)
	if green != fakeconsole.Green || blue != fakeconsole.Blue {
		return image.Rectangle{}, false
	}
	return r, true
}
