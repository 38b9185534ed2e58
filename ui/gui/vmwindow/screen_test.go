package vmwindow

import (
	"image"
	"image/color"
	"slices"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"

	"paddock/display"
	"paddock/ui/gui/vmwindow/internal/fakeconsole"
)

// X11 keycodes (evdev + 8) as Fyne reports them in KeyEvent.Physical.ScanCode.
const (
	x11A         = 38
	x11G         = 42
	x11Tab       = 23
	x11LeftShift = 50
	x11LeftCtrl  = 37
	x11LeftAlt   = 64
	x11RightCtrl = 105
)

func newConsole(t *testing.T, w, h int) *fakeconsole.Console {
	t.Helper()
	c, err := fakeconsole.New(w, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newTestScreen puts a 320x200 guest screen alone in an unpadded test window of the given size.
func newTestScreen(t *testing.T, size fyne.Size) (*Screen, *fakeconsole.Console, fyne.Window) {
	t.Helper()
	test.NewTempApp(t)
	con := newConsole(t, 320, 200)
	s := NewScreen(con, 0)
	w := test.NewWindow(s)
	w.SetPadded(false)
	w.Resize(size)
	t.Cleanup(func() {
		s.Stop()
		w.Close()
	})
	return s, con, w
}

func key(code int) *fyne.KeyEvent {
	return &fyne.KeyEvent{Physical: fyne.HardwareKey{ScanCode: code}}
}

func ev(k display.Key, down bool) display.KeyEvent { return display.KeyEvent{Key: k, Down: down} }

func keysAfterFlush(s *Screen, con *fakeconsole.Console) []display.KeyEvent {
	s.input.flush()
	return con.Keys()
}

func lastPointer(t *testing.T, s *Screen, con *fakeconsole.Console) display.PointerState {
	t.Helper()
	s.input.flush()
	ps := con.Pointers()
	if len(ps) == 0 {
		t.Fatal("no pointer event reached the console")
	}
	return ps[len(ps)-1]
}

func rgbaAt(img image.Image, x, y int) color.RGBA {
	r, g, b, a := img.At(x, y).RGBA()
	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
}

type probe struct {
	x, y int
	want color.RGBA
	what string
}

func checkProbes(t *testing.T, img image.Image, probes []probe) {
	t.Helper()
	for _, p := range probes {
		if got := rgbaAt(img, p.x, p.y); got != p.want {
			t.Errorf("pixel (%d,%d), %s: got %v, want %v", p.x, p.y, p.what, got, p.want)
		}
	}
}

func TestScreenFitsGuestWithAspectRatio(t *testing.T) {
	s, con, w := newTestScreen(t, fyne.NewSize(640, 600))
	con.DrawPattern()
	s.poll()

	// 640x600 holds the 320x200 guest at 2x: 640x400, bars of 100 above and below.
	img := w.Canvas().Capture()
	checkProbes(t, img, []probe{
		{320, 50, fakeconsole.Black, "bar above"},
		{320, 550, fakeconsole.Black, "bar below"},
		{4, 104, fakeconsole.Red, "top-left quadrant"},
		{635, 104, fakeconsole.Green, "top-right quadrant"},
		{4, 495, fakeconsole.Blue, "bottom-left quadrant"},
		{635, 495, fakeconsole.Yellow, "bottom-right quadrant"},
		{319, 299, fakeconsole.Red, "last red pixel before the centre"},
		{320, 300, fakeconsole.Yellow, "first yellow pixel after the centre"},
	})
	// Each guest pixel of the checkerboard is a sharp 2x2 block.
	for gy := 16; gy < 20; gy++ {
		for gx := 16; gx < 20; gx++ {
			want := fakeconsole.Black
			if (gx+gy)%2 == 0 {
				want = fakeconsole.White
			}
			for _, d := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
				x, y := 2*gx+d[0], 100+2*gy+d[1]
				if got := rgbaAt(img, x, y); got != want {
					t.Fatalf("checkerboard at screen (%d,%d), guest (%d,%d): got %v, want %v", x, y, gx, gy, got, want)
				}
			}
		}
	}

	// 480x200 holds it at 1:1 in the middle, bars of 80 on each side.
	w.Resize(fyne.NewSize(480, 200))
	img = w.Canvas().Capture()
	checkProbes(t, img, []probe{
		{40, 100, fakeconsole.Black, "bar on the left"},
		{440, 100, fakeconsole.Black, "bar on the right"},
		{80, 0, fakeconsole.Red, "top-left quadrant"},
		{399, 0, fakeconsole.Green, "top-right quadrant"},
		{80, 199, fakeconsole.Blue, "bottom-left quadrant"},
		{399, 199, fakeconsole.Yellow, "bottom-right quadrant"},
		{80 + 16, 16, fakeconsole.White, "checker (16,16)"},
		{80 + 17, 16, fakeconsole.Black, "checker (17,16)"},
		{80 + 17, 17, fakeconsole.White, "checker (17,17)"},
	})
}

func TestScreenScalesDownIntoSmallWindow(t *testing.T) {
	s, con, w := newTestScreen(t, fyne.NewSize(200, 200))
	con.DrawPattern()
	s.poll()
	// 200/320 = 0.625: a 200x125 image with 37 rows of bar above.
	img := w.Canvas().Capture()
	checkProbes(t, img, []probe{
		{100, 10, fakeconsole.Black, "bar above"},
		{100, 190, fakeconsole.Black, "bar below"},
		{90, 45, fakeconsole.Red, "top-left quadrant"},
		{110, 45, fakeconsole.Green, "top-right quadrant"},
		{90, 150, fakeconsole.Blue, "bottom-left quadrant"},
		{110, 150, fakeconsole.Yellow, "bottom-right quadrant"},
	})
}

func TestScreenRedrawsOnlyOnDamage(t *testing.T) {
	s, con, w := newTestScreen(t, fyne.NewSize(320, 200))
	if got := rgbaAt(w.Canvas().Capture(), 300, 190); got != fakeconsole.Black {
		t.Fatalf("fresh screen shows %v, want black", got)
	}

	s.poll()
	if s.Frames() != 0 {
		t.Fatalf("an idle guest caused %d redraws", s.Frames())
	}

	con.Fill(image.Rect(300, 180, 310, 195), fakeconsole.Green)
	s.poll()
	if s.Frames() != 1 {
		t.Fatalf("after one guest write: %d redraws, want 1", s.Frames())
	}
	img := w.Canvas().Capture()
	checkProbes(t, img, []probe{
		{305, 190, fakeconsole.Green, "the written area"},
		{299, 190, fakeconsole.Black, "left of it"},
		{310, 190, fakeconsole.Black, "right of it"},
	})

	// A page written with the same bytes again is dirty in the log but changes no pixel: no redraw.
	con.MarkDirty(image.Rect(0, 0, 320, 200))
	s.poll()
	if s.Frames() != 1 {
		t.Fatalf("rewriting identical pixels caused a redraw (%d)", s.Frames())
	}
}

func TestScreenRefreshLoopIdleCostsNoRedraw(t *testing.T) {
	s, con, _ := newTestScreen(t, fyne.NewSize(320, 200))
	s.Start()
	waitFor(t, "ten polls of the dirty log", func() bool { return con.DirtyCalls() >= 10 })
	if n := s.Frames(); n != 0 {
		t.Fatalf("idle guest: %d redraws over %d polls, want none", n, con.DirtyCalls())
	}
	con.Fill(image.Rect(0, 0, 8, 8), fakeconsole.Red)
	waitFor(t, "a redraw after a guest write", func() bool { return s.Frames() == 1 })
	calls := con.DirtyCalls()
	waitFor(t, "ten more polls", func() bool { return con.DirtyCalls() >= calls+10 })
	if n := s.Frames(); n != 1 {
		t.Fatalf("idle again: %d redraws, want still 1", n)
	}
	done := s.done
	s.Stop()
	waitFor(t, "the refresh loop to end", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKeysGoByPhysicalCode(t *testing.T) {
	s, con, w := newTestScreen(t, fyne.NewSize(320, 200))
	w.Canvas().Focus(s)
	if !s.Focused() {
		t.Fatal("screen did not take focus")
	}
	s.KeyDown(key(x11A))
	s.TypedKey(key(x11A))
	s.KeyUp(key(x11A))
	s.KeyDown(key(x11RightCtrl))
	s.KeyUp(key(x11RightCtrl))
	s.KeyDown(key(x11Tab))
	s.KeyUp(key(x11Tab))
	s.KeyDown(key(0))   // no such key: ignored
	s.KeyDown(key(400)) // out of range: ignored
	want := []display.KeyEvent{
		ev(30, true), ev(30, false), ev(97, true), ev(97, false), ev(display.KeyTab, true), ev(display.KeyTab, false),
	}
	if got := keysAfterFlush(s, con); !slices.Equal(got, want) {
		t.Fatalf("guest got %v, want %v", got, want)
	}
	if !s.AcceptsTab() {
		t.Fatal("Tab would move focus instead of reaching the guest")
	}
}

func TestKeyRepeatSendsMoreDowns(t *testing.T) {
	s, con, w := newTestScreen(t, fyne.NewSize(320, 200))
	w.Canvas().Focus(s)
	// Fyne's order for a held key: KeyDown, TypedKey for the press, then TypedKey per typematic repeat.
	s.KeyDown(key(x11A))
	s.TypedKey(key(x11A))
	s.TypedKey(key(x11A))
	s.TypedKey(key(x11A))
	s.KeyUp(key(x11A))
	// With Ctrl held the press and repeats arrive as shortcuts instead.
	s.KeyDown(key(x11LeftCtrl))
	s.TypedKey(key(x11LeftCtrl))
	s.KeyDown(key(x11A))
	s.TypedShortcut(&fyne.ShortcutSelectAll{})
	s.TypedShortcut(&fyne.ShortcutSelectAll{})
	s.KeyUp(key(x11A))
	s.KeyUp(key(x11LeftCtrl))
	want := []display.KeyEvent{
		ev(30, true), ev(30, true), ev(30, true), ev(30, false),
		ev(29, true), ev(30, true), ev(30, true), ev(30, false), ev(29, false),
	}
	if got := keysAfterFlush(s, con); !slices.Equal(got, want) {
		t.Fatalf("guest got %v, want %v", got, want)
	}
}

func TestFocusLossReleasesHeldKeys(t *testing.T) {
	s, con, w := newTestScreen(t, fyne.NewSize(320, 200))
	w.Canvas().Focus(s)
	s.KeyDown(key(x11LeftShift))
	s.KeyDown(key(x11A))
	w.Canvas().Unfocus()
	// The real releases arrive later, elsewhere; they must not reach the guest twice.
	s.KeyUp(key(x11A))
	s.KeyUp(key(x11LeftShift))
	want := []display.KeyEvent{ev(42, true), ev(30, true), ev(30, false), ev(42, false)}
	if got := keysAfterFlush(s, con); !slices.Equal(got, want) {
		t.Fatalf("guest got %v, want %v", got, want)
	}
}

func TestCtrlAltGReleasesKeyboard(t *testing.T) {
	s, con, w := newTestScreen(t, fyne.NewSize(320, 200))
	w.Canvas().Focus(s)
	s.KeyDown(key(x11LeftCtrl))
	s.KeyDown(key(x11LeftAlt))
	s.KeyDown(key(x11G))
	if s.Focused() || w.Canvas().Focused() != nil {
		t.Fatal("Ctrl+Alt+G left the screen focused")
	}
	want := []display.KeyEvent{ev(29, true), ev(56, true), ev(29, false), ev(56, false)}
	if got := keysAfterFlush(s, con); !slices.Equal(got, want) {
		t.Fatalf("guest got %v, want %v (G must not reach it, Ctrl and Alt must be released)", got, want)
	}
}

func TestPointerMapsThroughLetterbox(t *testing.T) {
	s, con, w := newTestScreen(t, fyne.NewSize(640, 600)) // 2x, bars of 100 above and below
	c := w.Canvas()
	cases := []struct {
		at   fyne.Position
		x, y int
	}{
		{fyne.NewPos(0, 0), 0, 0},             // corner of the bar: clamped to the guest's corner
		{fyne.NewPos(639.9, 599.9), 319, 199}, // opposite corner
		{fyne.NewPos(320, 300), 160, 100},     // centre
		{fyne.NewPos(0, 100), 0, 0},           // top-left corner of the image
		{fyne.NewPos(1.9, 101.9), 0, 0},       // still inside guest pixel (0,0)
		{fyne.NewPos(2, 102), 1, 1},           // next pixel
		{fyne.NewPos(639, 100), 319, 0},       // top-right corner of the image
		{fyne.NewPos(0, 499), 0, 199},         // bottom-left corner of the image
		{fyne.NewPos(100, 50), 50, 0},         // over the bar above
	}
	for _, tc := range cases {
		test.MoveMouse(c, tc.at)
		p := lastPointer(t, s, con)
		if p.X != tc.x || p.Y != tc.y || p.Buttons != 0 || p.Wheel != 0 {
			t.Errorf("pointer at %v: guest got %+v, want (%d,%d) with no buttons", tc.at, p, tc.x, tc.y)
		}
	}
}

func TestPointerButtonsAndWheel(t *testing.T) {
	s, con, w := newTestScreen(t, fyne.NewSize(640, 600))
	c := w.Canvas()
	at := fyne.NewPos(320, 300)
	test.MoveMouse(c, at)
	s.MouseDown(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: at}, Button: desktop.MouseButtonPrimary})
	if p := lastPointer(t, s, con); p != (display.PointerState{X: 160, Y: 100, Buttons: display.ButtonLeft}) {
		t.Fatalf("after left press: %+v", p)
	}
	if !s.Focused() {
		t.Fatal("a click on the screen did not give it the keyboard")
	}
	s.MouseDown(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: at}, Button: desktop.MouseButtonSecondary})
	if p := lastPointer(t, s, con); p.Buttons != display.ButtonLeft|display.ButtonRight {
		t.Fatalf("after right press: %+v", p)
	}
	s.MouseUp(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: at}, Button: desktop.MouseButtonPrimary})
	s.MouseUp(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: at}, Button: desktop.MouseButtonSecondary})
	if p := lastPointer(t, s, con); p.Buttons != 0 {
		t.Fatalf("after releases: %+v", p)
	}

	wheels := func() []int {
		s.input.flush()
		var out []int
		for _, p := range con.Pointers() {
			if p.Wheel != 0 {
				out = append(out, p.Wheel)
				if p.X != 160 || p.Y != 100 {
					t.Errorf("wheel event at (%d,%d), want the pointer's place (160,100)", p.X, p.Y)
				}
			}
		}
		return out
	}
	test.Scroll(c, at, 0, wheelStep)    // one notch away from the user
	test.Scroll(c, at, 0, -2*wheelStep) // two notches toward
	test.Scroll(c, at, 0, 10)           // a touchpad's small steps add up...
	test.Scroll(c, at, 0, 10)
	test.Scroll(c, at, 0, 10) // ...to one step at 25
	if got, want := wheels(), []int{1, -2, 1}; !slices.Equal(got, want) {
		t.Fatalf("wheel steps %v, want %v", got, want)
	}
}
