package gui_test

import (
	"fmt"
	"image"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"paddock/tests/gui/harness"
)

var scanCodeLine = regexp.MustCompile(`(?m)^(SC|AUX) ([0-9a-f]{2})\r?$`)

// scanCodes is every byte the kbdecho guest has read from port 0x60, as hex; a mouse byte is marked "aux".
func scanCodes(out string) string {
	var codes []string
	for _, m := range scanCodeLine.FindAllStringSubmatch(out, -1) {
		if m[1] == "AUX" {
			codes = append(codes, "aux:"+m[2])
			continue
		}
		codes = append(codes, m[2])
	}
	return strings.Join(codes, " ")
}

// Keys typed into the window reach a guest that reads the PS/2 keyboard as a PC kernel does, as the exact scan
// code set 1 bytes: makes and breaks, modifiers around the key they modify, E0 prefixes for the arrow keys.
func TestWindowKeyboard(t *testing.T) {
	_, env := desktop(t)
	p, win := runWindow(t, env, "kbdecho", vmName(), "--resolution", "640x480")
	p.WaitFor("KBD-READY")

	// A click on the guest's screen gives it the keyboard. The window may not take clicks the moment it is
	// mapped, so click until a tap of Shift reaches the guest; only then type.
	began := time.Now()
	deadline := began.Add(harness.Timeout())
	attempts := 0
	for !strings.HasSuffix(scanCodes(p.Stdout()), "2a aa") {
		if time.Now().After(deadline) {
			t.Fatalf("clicking the window never gave the guest the keyboard\n%s", p.Describe())
		}
		geo := harness.WindowGeometry(t, win)
		mid := image.Pt((geo.Min.X+geo.Max.X)/2, (geo.Min.Y+geo.Max.Y)/2+20)
		// Not --sync: xdotool's --sync waits about 15 s when the pointer is already there.
		harness.Xdotool(t, "mousemove", strconv.Itoa(mid.X+attempts%2), strconv.Itoa(mid.Y))
		harness.Xdotool(t, "click", "1")
		harness.Xdotool(t, "key", "shift")
		attempts++
		for range 20 {
			if strings.HasSuffix(scanCodes(p.Stdout()), "2a aa") {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("the guest had the keyboard after %d clicks, %v after it was ready", attempts, time.Since(began).Round(time.Millisecond))
	settle()
	before := scanCodes(p.Stdout())

	// xdotool's type releases Shift before the key it shifts (as its source does), so "H" arrives as
	// 2a 23 aa a3; pressed and released one by one, as a person types, it is 2a 23 a3 aa.
	harness.Xdotool(t, "type", "Hi")
	harness.Xdotool(t, "keydown", "shift")
	harness.Xdotool(t, "keydown", "h")
	harness.Xdotool(t, "keyup", "h")
	harness.Xdotool(t, "keyup", "shift")
	harness.Xdotool(t, "key", "Return", "Up", "F1")
	const want = "2a 23 aa a3 17 97 2a 23 a3 aa 1c 9c e0 48 e0 c8 3b bb"
	typed := func() string { return strings.TrimPrefix(strings.TrimPrefix(scanCodes(p.Stdout()), before), " ") }
	p.Poll("the guest to read "+want, func() bool { return len(typed()) >= len(want) })
	settle()
	if got := typed(); got != want {
		t.Fatalf("typing \"Hi\", Shift and H, Return, Up, F1 into the window gave the guest %q, want %q\n%s", got, want, p.Describe())
	}
}

// tabletEvent is one virtio_input_event the tablet guest printed.
type tabletEvent struct {
	typ, code uint16
	value     int32
}

func (e tabletEvent) String() string { return fmt.Sprintf("{%#x %#x %d}", e.typ, e.code, e.value) }

var evLine = regexp.MustCompile(`(?m)^EV ([0-9a-f]{4}) ([0-9a-f]{4}) ([0-9a-f]{8})\r?$`)

func tabletEvents(out string) []tabletEvent {
	var evs []tabletEvent
	for _, m := range evLine.FindAllStringSubmatch(out, -1) {
		t, _ := strconv.ParseUint(m[1], 16, 16)
		c, _ := strconv.ParseUint(m[2], 16, 16)
		v, _ := strconv.ParseUint(m[3], 16, 32)
		evs = append(evs, tabletEvent{uint16(t), uint16(c), int32(uint32(v))})
	}
	return evs
}

const (
	evSyn, evKey, evAbs = 0x00, 0x01, 0x03
	absX, absY          = 0x00, 0x01
	btnLeft             = 0x110
	absMax              = 32767
)

// absFor is the ABS value of pixel v on a screen size pixels across: edges 0 and absMax, rounded to nearest.
func absFor(v, size int) int32 { return int32((int64(v)*absMax + int64(size-1)/2) / int64(size-1)) }

// pointerState replays the events the guest's driver has read, as an input layer would: the last position and
// whether the left button is held, counting only complete groups (up to a SYN_REPORT).
func pointerState(evs []tabletEvent) (x, y int32, left bool, groups int) {
	cx, cy, cl := int32(-1), int32(-1), false
	x, y = -1, -1
	for _, e := range evs {
		switch {
		case e.typ == evAbs && e.code == absX:
			cx = e.value
		case e.typ == evAbs && e.code == absY:
			cy = e.value
		case e.typ == evKey && e.code == btnLeft:
			cl = e.value != 0
		case e.typ == evSyn:
			x, y, left = cx, cy, cl
			groups++
		}
	}
	return x, y, left, groups
}

// The mouse over the window moves the guest's virtio tablet to the guest pixel under it (at 1:1, the pixel the
// person points at) and a click there is BTN_LEFT down and up, all read by a guest's own virtio-input driver.
func TestWindowPointer(t *testing.T) {
	_, env := desktop(t)
	p, win := runWindow(t, env, "tablet", vmName(), "--resolution", fmt.Sprintf("%dx%d", guestW, guestH))
	p.WaitFor("TABLET-READY")
	rect := waitForPattern(t, p, win)

	for _, px := range []image.Point{{0, 0}, {guestW - 1, guestH - 1}, {guestW / 2, guestH / 2}, {123, 456}, {guestW - 1, 0}} {
		wantX, wantY := absFor(px.X, guestW), absFor(px.Y, guestH)
		scr := rect.Min.Add(px)
		harness.Xdotool(t, "mousemove", "--sync", strconv.Itoa(scr.X), strconv.Itoa(scr.Y))
		p.Poll(fmt.Sprintf("the guest's pointer at ABS (%d,%d), guest pixel %v", wantX, wantY, px), func() bool {
			x, y, _, _ := pointerState(tabletEvents(p.Stdout()))
			return x == wantX && y == wantY
		})

		before := len(tabletEvents(p.Stdout()))
		harness.Xdotool(t, "click", "1")
		var clicked []tabletEvent
		p.Poll("BTN_LEFT down and up", func() bool {
			clicked = tabletEvents(p.Stdout())[before:]
			downs, ups := 0, 0
			for _, e := range clicked {
				if e.typ == evKey && e.code == btnLeft {
					if e.value == 1 {
						downs++
					} else if downs == 1 && e.value == 0 {
						ups++
					}
				}
			}
			return downs == 1 && ups == 1 && clicked[len(clicked)-1].typ == evSyn
		})
		settle()
		clicked = tabletEvents(p.Stdout())[before:]
		want := []tabletEvent{{evKey, btnLeft, 1}, {evSyn, 0, 0}, {evKey, btnLeft, 0}, {evSyn, 0, 0}}
		if fmt.Sprint(clicked) != fmt.Sprint(want) {
			t.Errorf("a click at guest pixel %v gave %v, want %v (no move: the pointer is already there)", px, clicked, want)
		}
		if x, y, left, _ := pointerState(tabletEvents(p.Stdout())); x != wantX || y != wantY || left {
			t.Errorf("after the click at %v the guest's pointer is at (%d,%d) left=%v, want (%d,%d) released", px, x, y, left, wantX, wantY)
		}
	}
	if strings.Contains(p.Stdout(), "TABLET-FAIL") || strings.Contains(p.Stdout(), "GUEST-EXCEPTION") {
		t.Fatalf("the guest's driver failed\n%s", p.Describe())
	}
}
