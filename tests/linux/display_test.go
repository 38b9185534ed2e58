package linux_test

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
)

// screenshot saves the running VM's screen with `paddock screenshot` and decodes it.
func (v *vm) screenshot(env []string, name string) image.Image {
	v.t.Helper()
	file := filepath.Join(v.t.TempDir(), "screen.png")
	v.paddock(env, "screenshot", name, file)
	f, err := os.Open(file)
	if err != nil {
		v.t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		v.t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	return img
}

// rgb is a pixel as 0xRRGGBB.
func rgb(img image.Image, x, y int) uint32 {
	r, g, b, _ := img.At(x, y).RGBA()
	return (r>>8)<<16 | (g>>8)<<8 | b>>8
}

func checkSize(t *testing.T, img image.Image, w, h int) {
	t.Helper()
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("the screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
	}
}

// fbColours is the fb test's pattern (FB_COLOURS in tests/guest/init.sh): four horizontal bands, rows
// [i*H/4, (i+1)*H/4), each with its first colour left of column W/2 and its second from there on.
var fbColours = [4][2]uint32{{0xff0000, 0x00ff00}, {0x0000ff, 0xffffff}, {0x123456, 0x654321}, {0xa0b0c0, 0x0c0b0a}}

func fbPatternAt(x, y, w, h int) uint32 {
	band := 0
	for band < 3 && y >= (band+1)*h/4 {
		band++
	}
	if x < w/2 {
		return fbColours[band][0]
	}
	return fbColours[band][1]
}

// The guest's kernel binds its firmware framebuffer driver to the screen Paddock describes in screen_info, at
// the --resolution asked for, and what the guest writes to /dev/fb0 is what `paddock screenshot` shows, pixel
// for pixel: size, stride, colour order and the band and column edges.
func TestFramebuffer(t *testing.T) {
	// 1021x767: a width that is not a multiple of 8 and a height not a multiple of 4.
	for _, size := range [][2]int{{800, 600}, {1021, 767}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			env := newEnv(t)
			name := vmName()
			res := fmt.Sprintf("%dx%d", w, h)
			v := boot(t, env, "fb", "paddock.fb="+res, "--name", name, "--resolution", res)
			v.waitFor("PADDOCK-TEST fb READY")
			img := v.screenshot(env, name)
			checkSize(t, img, w, h)
			bad := 0
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					if got, want := rgb(img, x, y), fbPatternAt(x, y, w, h); got != want {
						if bad < 10 {
							t.Errorf("pixel (%d,%d) is %06x, want %06x", x, y, got, want)
						}
						bad++
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d pixels differ from the pattern the guest wrote to /dev/fb0", bad, w*h)
			}
			v.paddock(env, "stop", name)
			v.waitFor("PADDOCK-TEST fb PASS")
			v.exitsCleanly()
		})
	}
}

// With console=tty0 the kernel's boot messages are drawn on the framebuffer by fbcon: the screen holds text,
// many lines of it. Text shows as pixels unlike the background spread over many 16-pixel character rows, and
// covering well under half the screen (a filled or garbled screen is not text).
func TestConsoleOnScreen(t *testing.T) {
	const w, h = 1024, 768
	env := newEnv(t)
	name := vmName()
	v := boot(t, env, "console", "console=tty0 console=ttyS0 consoleblank=0",
		"--name", name, "--resolution", fmt.Sprintf("%dx%d", w, h))
	v.waitFor("PADDOCK-TEST console READY")
	img := v.screenshot(env, name)
	checkSize(t, img, w, h)

	count := map[uint32]int{}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			count[rgb(img, x, y)]++
		}
	}
	var background uint32
	for c, n := range count {
		if n > count[background] {
			background = c
		}
	}
	lit := 0
	textRows := map[int]bool{}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if rgb(img, x, y) != background {
				lit++
				textRows[y/16] = true
			}
		}
	}
	if lit < 2000 || len(textRows) < 10 || lit > w*h/2 {
		t.Errorf("the screen does not look like console text: %d pixels differ from the background %06x, in %d "+
			"character rows; want at least 2000 pixels in at least 10 rows, under half the screen\n%s",
			lit, background, len(textRows), v.describe())
	}
	v.paddock(env, "stop", name)
	v.waitFor("PADDOCK-TEST console PASS")
	v.exitsCleanly()
}

// A line typed with `paddock send-keys` reaches a shell on the first virtual terminal through the i8042 and the
// kernel's own PS/2 keyboard driver, and the shell runs it.
func TestKeyboard(t *testing.T) {
	env := newEnv(t)
	name := vmName()
	v := boot(t, env, "keyboard", "", "--name", name)
	v.waitFor("PADDOCK-TEST keyboard READY")
	v.paddock(env, "send-keys", name, "--text", "echo PADDOCK-KBD-OK > /dev/ttyS0")
	v.paddock(env, "send-keys", name, "enter")
	v.waitFor("PADDOCK-KBD-OK")
	v.paddock(env, "stop", name)
	v.waitFor("PADDOCK-TEST keyboard PASS")
	v.exitsCleanly()
}

var eventLine = regexp.MustCompile(`(?m)^PADDOCK-EVENT (\d+) (\d+) (-?\d+)\r?$`)

// pointerEvents is what the guest's evdev reported, from its PADDOCK-EVENT lines.
type pointerEvents struct {
	xs, ys  []int  // ABS_X and ABS_Y values in order
	left    []int  // BTN_LEFT values in order
	atPress [2]int // the last ABS_X and ABS_Y before the left button went down
	synced  bool   // the last event is SYN_REPORT
}

func parseEvents(serial string) pointerEvents {
	const evSyn, evKey, evAbs = 0, 1, 3
	const absX, absY, btnLeft = 0, 1, 0x110
	var e pointerEvents
	for _, m := range eventLine.FindAllStringSubmatch(serial, -1) {
		typ, _ := strconv.Atoi(m[1])
		code, _ := strconv.Atoi(m[2])
		val, _ := strconv.Atoi(m[3])
		switch {
		case typ == evAbs && code == absX:
			e.xs = append(e.xs, val)
		case typ == evAbs && code == absY:
			e.ys = append(e.ys, val)
		case typ == evKey && code == btnLeft:
			if val == 1 && len(e.xs) > 0 && len(e.ys) > 0 {
				e.atPress = [2]int{e.xs[len(e.xs)-1], e.ys[len(e.ys)-1]}
			}
			e.left = append(e.left, val)
		}
		e.synced = typ == evSyn && code == 0
	}
	return e
}

// tabletAxis is where pixel v of a screen size pixels across lands on the tablet's 0..32767 axis: the first pixel
// at 0, the last at 32767, rounded to the nearest step.
func tabletAxis(v, size int) int { return (v*32767 + (size-1)/2) / (size - 1) }

// `paddock pointer` moves the virtio tablet and clicks: the guest's evdev sees absolute positions scaled across
// the screen and the left button going down and up where the pointer is.
func TestPointer(t *testing.T) {
	const w, h = 800, 600
	const x, y = 600, 150
	env := newEnv(t)
	name := vmName()
	v := boot(t, env, "pointer", "", "--name", name, "--resolution", fmt.Sprintf("%dx%d", w, h))
	v.waitFor("PADDOCK-TEST pointer READY")
	v.paddock(env, "pointer", name, strconv.Itoa(w-1), strconv.Itoa(h-1))
	v.paddock(env, "pointer", name, strconv.Itoa(x), strconv.Itoa(y), "--click", "left")
	v.waitFor("PADDOCK-TEST pointer PASS")
	v.exitsCleanly()

	ev := parseEvents(v.out.String())
	wantX, wantY := tabletAxis(x, w), tabletAxis(y, h)
	if fmt.Sprint(ev.xs) != fmt.Sprint([]int{32767, wantX}) || fmt.Sprint(ev.ys) != fmt.Sprint([]int{32767, wantY}) {
		t.Errorf("the guest saw ABS_X %v and ABS_Y %v, want [32767 %d] and [32767 %d] for (%d,%d) then (%d,%d) "+
			"on %dx%d", ev.xs, ev.ys, wantX, wantY, w-1, h-1, x, y, w, h)
	}
	if fmt.Sprint(ev.left) != "[1 0]" {
		t.Errorf("the guest saw BTN_LEFT values %v, want [1 0] (one click)", ev.left)
	}
	if ev.atPress != [2]int{wantX, wantY} {
		t.Errorf("the click landed at %v, want [%d %d]", ev.atPress, wantX, wantY)
	}
	if !ev.synced {
		t.Errorf("the last event is not SYN_REPORT")
	}
	if t.Failed() {
		t.Logf("%s", v.describe())
	}
}

// The event report of a real kernel's evdev (recorded from a boot of this guest), as the serial port delivers
// it with CR LF line ends, reads back as what happened; the pointer test needs no VM to check its own reading.
func TestParseEvents(t *testing.T) {
	serial := "PADDOCK-TEST pointer READY /dev/input/event2\r\n" +
		"PADDOCK-EVENT 3 0 32767\r\nPADDOCK-EVENT 3 1 32767\r\nPADDOCK-EVENT 0 0 0\r\n" +
		"PADDOCK-EVENT 3 0 12345\r\nPADDOCK-EVENT 3 1 23456\r\nPADDOCK-EVENT 0 0 0\r\n" +
		"PADDOCK-EVENT 1 272 1\r\nPADDOCK-EVENT 0 0 0\r\nPADDOCK-EVENT 1 272 0\r\nPADDOCK-EVENT 0 0 0\r\n" +
		"PADDOCK-TEST pointer PASS events=10\r\n"
	e := parseEvents(serial)
	got := fmt.Sprint(e.xs, e.ys, e.left, e.atPress, e.synced)
	if want := "[32767 12345] [32767 23456] [1 0] [12345 23456] true"; got != want {
		t.Errorf("parsed %s, want %s", got, want)
	}
	if e := parseEvents(strings.TrimSuffix(serial, "PADDOCK-EVENT 0 0 0\r\nPADDOCK-TEST pointer PASS events=10\r\n")); e.synced {
		t.Errorf("a report ending in a key event reads as synced")
	}
}

func TestTabletAxis(t *testing.T) {
	for _, c := range []struct{ v, size, want int }{{0, 800, 0}, {799, 800, 32767}, {400, 801, 16384}, {600, 800, 24606}} {
		if got := tabletAxis(c.v, c.size); got != c.want {
			t.Errorf("tabletAxis(%d, %d) = %d, want %d", c.v, c.size, got, c.want)
		}
	}
}
