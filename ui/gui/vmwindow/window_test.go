package vmwindow

import (
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"paddock/display"
	"paddock/ui/gui/vmwindow/internal/fakeconsole"
)

func newTestWindow(t *testing.T, opts Options) (*Window, *fakeconsole.Console) {
	t.Helper()
	t.Setenv("DISPLAY", "") // no host screen to size against
	app := test.NewTempApp(t)
	con := newConsole(t, 320, 200)
	con.DrawPattern()
	w := New(app, "web server #1", con, opts)
	w.Show()
	return w, con
}

func TestWindowTitleHintAndClose(t *testing.T) {
	closed := 0
	w, con := newTestWindow(t, Options{OnClose: func() { closed++ }})
	if got := w.Fyne().Title(); got != "web server #1" {
		t.Fatalf("title %q, want the VM name", got)
	}
	if w.KeyboardHint() != HintClickToType {
		t.Fatalf("hint %q before the screen has focus", w.KeyboardHint())
	}
	w.Fyne().Canvas().Focus(w.Screen())
	if w.KeyboardHint() != HintCaptured {
		t.Fatalf("hint %q while the guest has the keyboard", w.KeyboardHint())
	}
	s := w.Screen()
	s.KeyDown(key(x11LeftCtrl))
	s.KeyDown(key(x11LeftAlt))
	s.KeyDown(key(x11G))
	if w.KeyboardHint() != HintClickToType {
		t.Fatalf("hint %q after Ctrl+Alt+G", w.KeyboardHint())
	}

	waitFor(t, "the screen to poll the console", func() bool { return con.DirtyCalls() > 0 })
	w.Close()
	if closed != 1 {
		t.Fatalf("OnClose ran %d times, want 1", closed)
	}
	done := s.done
	waitFor(t, "the refresh loop to stop", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
}

func TestWindowCtrlAltDel(t *testing.T) {
	w, con := newTestWindow(t, Options{})
	defer w.Close()
	w.SendCtrlAltDel()
	w.Screen().input.flush()
	want := []display.KeyEvent{
		ev(display.KeyLeftCtrl, true), ev(display.KeyLeftAlt, true), ev(display.KeyDelete, true),
		ev(display.KeyDelete, false), ev(display.KeyLeftAlt, false), ev(display.KeyLeftCtrl, false),
	}
	if got := con.Keys(); !slices.Equal(got, want) {
		t.Fatalf("guest got %v, want %v", got, want)
	}
}

func TestWindowScreenshot(t *testing.T) {
	dir := t.TempDir()
	w, _ := newTestWindow(t, Options{ScreenshotDir: dir})
	defer w.Close()
	first, err := w.Screenshot()
	if err != nil {
		t.Fatal(err)
	}
	second, err := w.Screenshot()
	if err != nil {
		t.Fatal(err)
	}
	if first == second {
		t.Fatalf("second screenshot overwrote the first: %s", first)
	}
	name := filepath.Base(first)
	if filepath.Dir(first) != dir || !strings.HasPrefix(name, "paddock-web-server-1-") || !strings.HasSuffix(name, ".png") {
		t.Fatalf("screenshot saved as %s", first)
	}
	f, err := os.Open(first)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if img.Bounds().Dx() != 320 || img.Bounds().Dy() != 200 {
		t.Fatalf("screenshot is %v, want the guest's 320x200", img.Bounds())
	}
	checkProbes(t, img, []probe{
		{0, 0, fakeconsole.Red, "top-left"}, {319, 0, fakeconsole.Green, "top-right"},
		{0, 199, fakeconsole.Blue, "bottom-left"}, {319, 199, fakeconsole.Yellow, "bottom-right"},
		{16, 16, fakeconsole.White, "checker"}, {17, 16, fakeconsole.Black, "checker"},
	})
}

func TestWindowFullScreenToggle(t *testing.T) {
	w, _ := newTestWindow(t, Options{})
	defer w.Close()
	w.ToggleFullScreen()
	if !w.Fyne().FullScreen() {
		t.Fatal("not full screen after the toggle")
	}
	w.ToggleFullScreen()
	if w.Fyne().FullScreen() {
		t.Fatal("still full screen after the second toggle")
	}
}

func TestFileSafe(t *testing.T) {
	for in, want := range map[string]string{
		"debian": "debian", "web server #1": "web-server-1", "../../etc": "etc", "": "vm", "日本": "vm",
	} {
		if got := fileSafe(in); got != want {
			t.Errorf("fileSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
