package manager

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"paddock/tests/displayengine"
	"paddock/tests/guests"
	gh "paddock/tests/gui/harness"
	"paddock/tests/media"
	"paddock/tests/testenv"
)

// The real program on a real X server: `paddock` with no arguments opens the manager window on a library made
// through the command line, the VMs' rows render with their names, and a VM started from the command line gets a
// live thumbnail in its row.
func TestManagerWindowUnderXvfb(t *testing.T) {
	gh.RequireGUITools(t)
	testenv.RequireKVM(t)
	bin := paddockBinary(t)
	kernel := guests.Build(t, "fbpattern")
	gh.StartXvfb(t, 1280, 800)
	env := gh.Env(t)

	const short, long = "x", "Xvfb-test-VM-with-a-long-name"
	for _, name := range []string{short, long} {
		code, out, errOut := gh.Run(t, bin, env, "create", name, "--kernel", kernel, "--memory", "128",
			"--disk-size", "0", "--cpus", "1", "--resolution", "640x400")
		if code != 0 {
			t.Fatalf("paddock create %s: status %d\n%s%s", name, code, out, errOut)
		}
	}
	t.Cleanup(func() { gh.Run(t, bin, env, "stop", "--force", long) })

	gui := gh.Start(t, bin, env)
	// Without the manager wired into main, `paddock` alone prints its usage and exits.
	if code, ended := gui.Wait(2 * time.Second); ended {
		t.Fatalf("`paddock` with no arguments exited (status %d) instead of opening the manager window\n%s",
			code, gui.Describe())
	}
	win := gh.FindWindow(t, gui, Title)
	var geo image.Rectangle
	var boxes []image.Rectangle
	gui.Poll("two VM rows in the window", func() bool {
		geo = gh.WindowGeometry(t, win)
		img := gh.Capture(t)
		boxes = thumbBoxes(img, geo)
		return len(boxes) == 2 && colourCount(img, geo) > 8
	})

	// Rows are in name order; each name renders as ink to the right of its thumbnail, as wide as the name is.
	img := gh.Capture(t)
	shortInk, longInk := nameInk(img, boxes[0], geo), nameInk(img, boxes[1], geo)
	t.Logf("rows at %v; name ink %dpx and %dpx", boxes, shortInk, longInk)
	if shortInk < 3 || longInk < 8*shortInk {
		t.Errorf("name ink widths %d (for %q) and %d (for %q): the names do not render as their lengths say",
			shortInk, short, longInk, long)
	}

	// Started from the command line, the VM's row shows its screen: the pattern's bars where the icon was.
	if code, out, errOut := gh.Run(t, bin, env, "start", long, "--headless"); code != 0 {
		t.Fatalf("paddock start: status %d\n%s%s", code, out, errOut)
	}
	box := boxes[1]
	gui.Poll("the pattern in the thumbnail", func() bool { return checkBars(gh.Capture(t), box) == "" })
	if dir := os.Getenv("PADDOCK_TEST_CAPTURE_DIR"); dir != "" {
		saveCapture(t, filepath.Join(dir, "manager-xvfb.png"), gh.Capture(t))
	}
	// The other row still shows a stopped VM's icon.
	if got := gh.Capture(t).RGBAAt(boxes[0].Min.X+2, boxes[0].Min.Y+2); !gh.Near(got, rgba(thumbBackground), 2) {
		t.Errorf("the stopped VM's thumbnail area changed to %v", got)
	}
}

func rgba(c color.NRGBA) color.RGBA { return color.RGBA{R: c.R, G: c.G, B: c.B, A: 0xff} }

// thumbBoxes finds the thumbnail areas (the dark "screen off" rectangles) inside the window, top to bottom.
func thumbBoxes(img *image.RGBA, win image.Rectangle) []image.Rectangle {
	bg := rgba(thumbBackground)
	var boxes []image.Rectangle
	r := win.Intersect(img.Bounds())
	inBox := func(x, y int) bool {
		for _, b := range boxes {
			if image.Pt(x, y).In(b) {
				return true
			}
		}
		return false
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if img.RGBAAt(x, y) != bg || inBox(x, y) {
				continue
			}
			w := 0
			for x+w < r.Max.X && img.RGBAAt(x+w, y) == bg {
				w++
			}
			h := 0
			for y+h < r.Max.Y && img.RGBAAt(x, y+h) == bg {
				h++
			}
			if w >= ThumbWidth*3/4 && h >= ThumbHeight*3/4 {
				boxes = append(boxes, image.Rect(x, y, x+w, y+h))
			}
		}
	}
	return boxes
}

// colourCount counts the distinct colours in the window (a blank window has one or two).
func colourCount(img *image.RGBA, win image.Rectangle) int {
	seen := map[color.RGBA]bool{}
	r := win.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y += 3 {
		for x := r.Min.X; x < r.Max.X; x += 3 {
			seen[img.RGBAAt(x, y)] = true
		}
	}
	return len(seen)
}

// nameInk is how wide the text on the name line of the row with thumbnail box is: the span of pixels that differ
// clearly from the row's background.
func nameInk(img *image.RGBA, box, win image.Rectangle) int {
	bg := img.RGBAAt(win.Max.X-8, box.Min.Y+box.Dy()/6)
	minX, maxX := -1, -1
	for y := box.Min.Y; y < box.Min.Y+box.Dy()/3; y++ {
		for x := box.Max.X + 4; x < win.Max.X-8; x++ {
			c := img.RGBAAt(x, y)
			if absDiff(c.R, bg.R)+absDiff(c.G, bg.G)+absDiff(c.B, bg.B) > 120 {
				if minX < 0 || x < minX {
					minX = x
				}
				maxX = max(maxX, x)
			}
		}
	}
	if minX < 0 {
		return 0
	}
	return maxX - minX + 1
}

func absDiff(a, b uint8) int { return max(int(a)-int(b), int(b)-int(a)) }

// checkBars says what is wrong with the pattern's bars in the thumbnail box, or "" when they are there.
func checkBars(img *image.RGBA, box image.Rectangle) string {
	var problems []string
	for i, c := range displayengine.PatternBars {
		x := box.Min.X + (2*i+1)*box.Dx()/16
		got := img.RGBAAt(x, box.Min.Y+box.Dy()*3/4)
		if want := displayengine.XRGB(c); !gh.Near(got, want, 40) {
			problems = append(problems, "bar "+string(rune('0'+i))+" is "+colourString(got))
		}
	}
	return strings.Join(problems, ", ")
}

func colourString(c color.RGBA) string {
	const hex = "0123456789abcdef"
	b := []byte{'#', hex[c.R>>4], hex[c.R&15], hex[c.G>>4], hex[c.G&15], hex[c.B>>4], hex[c.B&15]}
	return string(b)
}

// saveCapture writes the screen to path, for a person looking into a failure.
func saveCapture(t *testing.T, path string, img image.Image) {
	f, err := os.Create(path)
	if err != nil {
		t.Logf("saving the capture: %v", err)
		return
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Logf("saving the capture: %v", err)
	}
}

// `paddock start NAME` opens the VM's own window (with the library window's VM-window features) showing its
// screen; the command returns once the VM ends.
func TestStartOpensTheVMWindowUnderXvfb(t *testing.T) {
	gh.RequireGUITools(t)
	testenv.RequireKVM(t)
	bin := paddockBinary(t)
	kernel := guests.Build(t, "fbpattern")
	gh.StartXvfb(t, 1280, 800)
	env := gh.Env(t)
	const name = "windowed"
	if code, out, errOut := gh.Run(t, bin, env, "create", name, "--kernel", kernel, "--memory", "128",
		"--disk-size", "0", "--cpus", "1", "--resolution", "640x400"); code != 0 {
		t.Fatalf("paddock create: status %d\n%s%s", code, out, errOut)
	}
	t.Cleanup(func() { gh.Run(t, bin, env, "stop", "--force", name) })
	start := gh.Start(t, bin, env, "start", name)
	gh.FindWindow(t, start, name)
	start.Poll("the guest's pattern in its window", func() bool {
		_, ok := gh.FindPattern(gh.Capture(t), 640, 400)
		return ok
	})
	if code, ended := start.Wait(time.Second); ended {
		t.Fatalf("paddock start ended (status %d) with its window open\n%s", code, start.Describe())
	}
	if code, out, errOut := gh.Run(t, bin, env, "stop", "--force", name); code != 0 {
		t.Fatalf("paddock stop: status %d\n%s%s", code, out, errOut)
	}
	if code, ended := start.Wait(gh.Timeout()); !ended || code != 0 {
		t.Fatalf("after the VM ended, paddock start: ended %v, status %d\n%s", ended, code, start.Describe())
	}
}

// `paddock FILE.iso` (a file manager's "Open with Paddock") opens the library window with the New VM wizard on
// that ISO; `paddock` with a command name still runs the command.
func TestOpenAnISOUnderXvfb(t *testing.T) {
	gh.RequireGUITools(t)
	bin := paddockBinary(t)
	iso := media.Get(t, media.DebianNetinst())
	gh.StartXvfb(t, 1280, 800)
	env := gh.Env(t)
	gui := gh.Start(t, bin, env, iso)
	gh.FindWindow(t, gui, "New VM")
	gh.FindWindow(t, gui, Title)
	if code, out, errOut := gh.Run(t, bin, env, "list"); code != 0 {
		t.Fatalf("paddock list beside the window: status %d\n%s%s", code, out, errOut)
	}
}
