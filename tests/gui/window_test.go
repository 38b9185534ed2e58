package gui_test

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"paddock/tests/displayengine"
	"paddock/tests/gui/harness"
)

const guestW, guestH = 800, 600

// waitForPattern captures the screen until the guest's pattern shows at 1:1 inside the window, and returns where.
func waitForPattern(t *testing.T, p *harness.Process, win string) image.Rectangle {
	t.Helper()
	var rect image.Rectangle
	p.Poll(fmt.Sprintf("the guest's %dx%d pattern at 1:1 on the X screen", guestW, guestH), func() bool {
		r, ok := harness.FindPattern(harness.Capture(t), guestW, guestH)
		rect = r
		return ok
	})
	if geo := harness.WindowGeometry(t, win); !rect.In(geo) {
		t.Fatalf("the pattern %v is not inside the VM's window %v", rect, geo)
	}
	return rect
}

// The guest's screen in the window, as a person sees it: first at its own size pixel for pixel, then scaled to
// fit a resized window with its aspect ratio kept and black bars beside it, and finally closing the window powers
// the VM off, ends `paddock run`, and leaves no VM behind.
func TestWindowShowsTheGuestScreen(t *testing.T) {
	display, env := desktop(t)
	name := vmName()
	p, win := runWindow(t, env, "fbpattern", name, "--resolution", fmt.Sprintf("%dx%d", guestW, guestH))
	p.WaitFor("DRAWN")

	rect := waitForPattern(t, p, win)
	if err := displayengine.ComparePattern(harness.Crop(harness.Capture(t), rect), guestW, guestH); err != nil {
		t.Fatalf("the window does not show the guest's screen pixel for pixel: %v", err)
	}
	geo := harness.WindowGeometry(t, win)
	// Above the screen is the toolbar; the screen area is the rest of the window.
	chrome := rect.Min.Y - geo.Min.Y
	t.Logf("window %v, guest screen at %v (toolbar %d px)", geo, rect, chrome)
	if geo.Dx() != guestW || geo.Max.Y != rect.Max.Y {
		t.Errorf("the window %v does not open at the guest's own size below its toolbar (screen at %v)", geo, rect)
	}

	for _, size := range [][2]int{{1000, 500}, {500, 700}, {1100, 900}} {
		t.Run(fmt.Sprintf("resized to %dx%d", size[0], size[1]), func(t *testing.T) {
			harness.Xdotool(t, "windowsize", win, strconv.Itoa(size[0]), strconv.Itoa(size[1]))
			var geo, want, got image.Rectangle
			var why string
			deadline := time.Now().Add(harness.Timeout())
			for {
				geo = harness.WindowGeometry(t, win)
				area := image.Rect(geo.Min.X, geo.Min.Y+chrome, geo.Max.X, geo.Max.Y)
				want = fitRect(area, guestW, guestH)
				img := harness.Capture(t)
				got, why = measureImage(img, area)
				if why == "" && near(got, want, 2) {
					checkScaledPattern(t, img, got)
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after resizing to %dx%d the window is %v: the guest's screen should fill %v, "+
						"keeping its %dx%d shape, but shows at %v %s", size[0], size[1], geo, want, guestW, guestH, got, why)
				}
				if p.Exited() {
					t.Fatalf("paddock exited during the resize\n%s", p.Describe())
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Logf("window %v: guest screen at %v, aspect %.4f (guest %.4f)", geo, got,
				float64(got.Dx())/float64(got.Dy()), float64(guestW)/guestH)
		})
	}

	// Closing the window is powering the VM off: `paddock run` ends and the VM is gone.
	harness.CloseWindow(t, display, win)
	code, ended := p.Wait(harness.Timeout())
	if !ended {
		t.Fatalf("paddock run still runs %v after its window was closed\n%s", harness.Timeout(), p.Describe())
	}
	if code != 0 {
		t.Errorf("paddock run exited with status %d after its window was closed, want 0\n%s", code, p.Describe())
	}
	if c, out, errOut := harness.Run(t, paddockBin, env, "status", name); c == 0 {
		t.Errorf("paddock status %s succeeded after the window closed:\n%s%s", name, out, errOut)
	}
	if strings.Contains(p.Stderr(), "panic:") {
		t.Errorf("a Go panic\n%s", p.Describe())
	}
	waitGone(t, "the viewer window", func() bool {
		out, err := execOutput("xdotool", "search", "--name", "^"+name+"$")
		return err != nil || strings.TrimSpace(out) == ""
	})
}

// fitRect is where a gw x gh screen should show inside area: as large as fits with its aspect ratio kept,
// centred, on whole pixels (a scale within 5% above a whole number snaps to it, as the window does).
func fitRect(area image.Rectangle, gw, gh int) image.Rectangle {
	s := math.Min(float64(area.Dx())/float64(gw), float64(area.Dy())/float64(gh))
	if whole := math.Floor(s); whole >= 1 && s-whole < 0.05*whole {
		s = whole
	}
	w, h := float64(gw)*s, float64(gh)*s
	x := area.Min.X + int(math.Floor((float64(area.Dx())-w)/2))
	y := area.Min.Y + int(math.Floor((float64(area.Dy())-h)/2))
	return image.Rect(x, y, x+int(math.Round(w)), y+int(math.Round(h)))
}

// measureImage finds the guest image inside area of the capture: the non-black span of the middle row and of
// the middle column (the bars beside it are black; no colour of the pattern is). why is empty, or what was odd.
func measureImage(img *image.RGBA, area image.Rectangle) (image.Rectangle, string) {
	lit := func(x, y int) bool {
		c := img.RGBAAt(x, y)
		return c.R > 24 || c.G > 24 || c.B > 24
	}
	midY, midX := (area.Min.Y+area.Max.Y)/2, (area.Min.X+area.Max.X)/2
	x0, x1, y0, y1 := -1, -1, -1, -1
	for x := area.Min.X; x < area.Max.X; x++ {
		if lit(x, midY) {
			if x0 < 0 {
				x0 = x
			}
			x1 = x + 1
		}
	}
	for y := area.Min.Y; y < area.Max.Y; y++ {
		if lit(midX, y) {
			if y0 < 0 {
				y0 = y
			}
			y1 = y + 1
		}
	}
	if x0 < 0 || y0 < 0 {
		return image.Rectangle{}, "(nothing but black in the screen area)"
	}
	r := image.Rect(x0, y0, x1, y1)
	// Beyond the image, the bars must be black all along: sample the corners of the area outside it.
	for _, pt := range []image.Point{area.Min, {area.Max.X - 1, area.Min.Y}, {area.Min.X, area.Max.Y - 1}, area.Max.Sub(image.Pt(1, 1))} {
		if !pt.In(r.Inset(-2)) && lit(pt.X, pt.Y) {
			return r, fmt.Sprintf("(the area's corner %v outside the image is %v, not black)", pt, img.RGBAAt(pt.X, pt.Y))
		}
	}
	return r, ""
}

func near(a, b image.Rectangle, tol int) bool {
	d := func(x, y int) bool { return max(x-y, y-x) <= tol }
	return d(a.Min.X, b.Min.X) && d(a.Min.Y, b.Min.Y) && d(a.Max.X, b.Max.X) && d(a.Max.Y, b.Max.Y)
}

// checkScaledPattern samples the scaled pattern where its parts must be: each bar's colour in the middle of its
// span, the band in the middle of its rows.
func checkScaledPattern(t *testing.T, img *image.RGBA, r image.Rectangle) {
	t.Helper()
	s := float64(r.Dx()) / guestW
	at := func(gx, gy float64) color.RGBA {
		return img.RGBAAt(r.Min.X+int(gx*s), r.Min.Y+int(gy*s))
	}
	for i, bar := range displayengine.PatternBars {
		gx := (float64(i) + 0.5) * guestW / 8
		if got, want := at(gx, guestH*0.6), displayengine.XRGB(bar); !harness.Near(got, want, 6) {
			t.Errorf("bar %d at guest x %.0f shows %v, want %v", i, gx, got, want)
		}
	}
	if got, want := at(guestW/2, displayengine.PatternBandRows/2), displayengine.XRGB(displayengine.PatternBand); !harness.Near(got, want, 24) {
		t.Errorf("the band shows %v, want %v", got, want)
	}
}
