package engine_test

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"paddock/tests/displayengine"
)

// framebufferBase is where the engine puts the linear framebuffer: guest-physical 0xE0000000, in the MMIO hole.
const framebufferBase = 0xe0000000

var (
	fbLine    = regexp.MustCompile(`(?m)^FB (\d+) (\d+) (\d+) ([0-9a-f]+)\r?$`)
	fbFmtLine = regexp.MustCompile(`(?m)^FBFMT depth (\d+) size (\d+) rgb (\d+/\d+ \d+/\d+ \d+/\d+)\r?$`)
)

// The guest finds its screen through screen_info, draws a pattern into it, and `paddock screenshot` shows that
// pattern pixel for pixel: size, stride, base address and colour order all end to end.
func TestFramebufferScreenshot(t *testing.T) {
	// 1021x767: a width that is not a multiple of 8 puts bar edges mid-way through 8-pixel groups.
	for _, size := range [][2]int{{800, 600}, {1280, 720}, {1021, 767}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			requireKVM(t)
			env := newEnv(t)
			name := vmName()
			s := start(t, env, "run", "--kernel", buildGuest(t, "fbpattern"), "--serial", "stdio", "--name", name,
				"--resolution", fmt.Sprintf("%dx%d", w, h))
			s.waitFor("FBFMT")
			began := time.Now()
			s.waitFor("DRAWN")
			t.Logf("the guest drew %dx%d in about %v", w, h, time.Since(began).Round(10*time.Millisecond))

			out := s.stdout.String()
			m := fbLine.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no FB line\n%s", s.describe())
			}
			gotW, _ := strconv.Atoi(m[1])
			gotH, _ := strconv.Atoi(m[2])
			stride, _ := strconv.Atoi(m[3])
			base, _ := strconv.ParseUint(m[4], 16, 64)
			if gotW != w || gotH != h || stride != 4*w || base != framebufferBase {
				t.Errorf("screen_info gives %dx%d stride %d base %#x, want %dx%d stride %d base %#x",
					gotW, gotH, stride, base, w, h, 4*w, framebufferBase)
			}
			f := fbFmtLine.FindStringSubmatch(out)
			if f == nil {
				t.Fatalf("no FBFMT line\n%s", s.describe())
			}
			size, _ := strconv.Atoi(f[2])
			if f[1] != "32" || f[3] != "8/16 8/8 8/0" || size < stride*h || size > stride*h+64*1024 {
				t.Errorf("screen_info format: depth %s, rgb size/pos %s, lfb_size %d bytes; want 32, 8/16 8/8 8/0, "+
					"at least %d bytes rounded to 64 KiB", f[1], f[3], size, stride*h)
			}

			file := filepath.Join(t.TempDir(), "screen.png")
			shot := paddock(t, env, "screenshot", name, file)
			shot.expectExit(t, 0)
			if want := fmt.Sprintf("%s: %dx%d screenshot saved to %s\n", name, w, h, file); shot.stdout != want {
				t.Errorf("screenshot says %q, want %q", shot.stdout, want)
			}
			img := decodePNG(t, file)
			if err := displayengine.ComparePattern(img, w, h); err != nil {
				t.Errorf("the screenshot is not what the guest drew: %v", err)
			}

			paddock(t, env, "stop", "--force", name).expectExit(t, 0)
			s.wait()
			if goPanic.MatchString(s.stderr.String()) {
				t.Fatalf("a Go panic\n%s", s.describe())
			}
		})
	}
}

// A screen size out of range or malformed is refused before anything runs, with one line that says so.
func TestBadResolution(t *testing.T) {
	kernel := buildGuest(t, "fbpattern")
	for _, res := range []string{"100x100", "5000x3000", "abc", "1024x", "0x0", "-800x600"} {
		t.Run(res, func(t *testing.T) {
			r := paddock(t, newEnv(t), "run", "--kernel", kernel, "--serial", "stdio", "--resolution", res)
			r.expectCleanFailure(t, "resolution")
			if strings.Contains(r.stdout, "FB ") {
				t.Errorf("the guest ran\n%s", r.describe())
			}
		})
	}
}

// A screenshot of a VM that does not exist fails with one line naming it, and writes no file.
func TestScreenshotOfMissingVM(t *testing.T) {
	file := filepath.Join(t.TempDir(), "screen.png")
	r := paddock(t, newEnv(t), "screenshot", "no-such-vm", file)
	r.expectCleanFailure(t, "no-such-vm")
	if _, err := os.Stat(file); err == nil {
		t.Errorf("a failed screenshot left %s behind", file)
	}
}

// decodePNG reads a screenshot file.
func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the screenshot file: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the screenshot %s is not a PNG: %v", path, err)
	}
	return img
}
