package engine_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Linux evdev types and codes, as a guest driver reads them (include/uapi/linux/input-event-codes.h).
const (
	evSyn    = 0x00
	evKey    = 0x01
	evRel    = 0x02
	evAbs    = 0x03
	absX     = 0x00
	absY     = 0x01
	btnLeft  = 0x110
	relWheel = 0x08
	absMax   = 32767
)

// tabletEvent is one virtio_input_event the tablet guest printed.
type tabletEvent struct {
	typ, code uint16
	value     int32
}

func (e tabletEvent) String() string {
	return fmt.Sprintf("{type %#x code %#x value %d}", e.typ, e.code, e.value)
}

var evLine = regexp.MustCompile(`(?m)^EV ([0-9a-f]{4}) ([0-9a-f]{4}) ([0-9a-f]{8})\r?$`)

// tabletEvents is every event the tablet guest has printed so far.
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

// waitTabletEvents waits until the guest has printed n events, then a little longer so that extra ones show too.
func waitTabletEvents(t *testing.T, s *session, n int) []tabletEvent {
	t.Helper()
	deadline := time.Now().Add(runTimeout())
	for len(tabletEvents(s.stdout.String())) < n {
		if s.exited() {
			t.Fatalf("paddock exited (status %d) after %d of %d tablet events\n%s", s.code, len(tabletEvents(s.stdout.String())), n, s.describe())
		}
		if time.Now().After(deadline) {
			t.Fatalf("the guest read %d of %d tablet events within %v\n%s", len(tabletEvents(s.stdout.String())), n, runTimeout(), s.describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	return tabletEvents(s.stdout.String())
}

// absFor is the ABS value a pixel coordinate should give: the first pixel 0, the last absMax, linear and rounded
// to nearest between, so that every pixel keeps its own value and the centre lands in the middle.
func absFor(v, size int) int32 {
	return int32((int64(v)*absMax + int64(size-1)/2) / int64(size-1))
}

func syn() tabletEvent { return tabletEvent{evSyn, 0, 0} }

// `paddock pointer` reaches a guest that drives the virtio tablet as a virtio 1.x input driver: positions as
// ABS_X/ABS_Y scaled so the screen's corners are 0 and 32767, a click as BTN_LEFT down then up, the wheel as
// REL_WHEEL, each group closed by SYN_REPORT, exactly in the order a Linux input driver would see them.
func TestPointerReachesVirtioTablet(t *testing.T) {
	const w, h = 1024, 768
	requireKVM(t)
	env := newEnv(t)
	name := vmName()
	s := start(t, env, "run", "--kernel", buildGuest(t, "tablet"), "--serial", "stdio", "--name", name,
		"--resolution", fmt.Sprintf("%dx%d", w, h))
	s.waitFor("TABLET-READY")
	r := result{stdout: s.stdout.String()}
	r.expectLine(t, "TABLET-ABSX 0 32767")
	r.expectLine(t, "TABLET-NAME Paddock Tablet")
	if evs := tabletEvents(s.stdout.String()); len(evs) != 0 {
		t.Fatalf("the guest got %v before the pointer moved\n%s", evs, s.describe())
	}

	var want []tabletEvent
	pointer := func(args ...string) {
		t.Helper()
		paddock(t, env, append([]string{"pointer", name}, args...)...).expectExit(t, 0)
	}
	move := func(x, y int) {
		t.Helper()
		pointer(strconv.Itoa(x), strconv.Itoa(y))
		want = append(want, tabletEvent{evAbs, absX, absFor(x, w)}, tabletEvent{evAbs, absY, absFor(y, h)}, syn())
	}

	// The corners are the ends of the range, the centre is its middle.
	corners := [][2]int{{0, 0}, {w - 1, 0}, {w - 1, h - 1}, {0, h - 1}, {w / 2, h / 2}}
	for _, p := range corners {
		move(p[0], p[1])
	}
	got := waitTabletEvents(t, s, len(want))
	sameEvents(t, "pointer at the corners and the centre", got, want)
	for i, p := range corners {
		x, y := got[3*i].value, got[3*i+1].value
		switch {
		case p[0] == 0 && x != 0, p[0] == w-1 && x != absMax, p[1] == 0 && y != 0, p[1] == h-1 && y != absMax:
			t.Errorf("pixel (%d,%d) gave ABS (%d,%d): the screen's edges must be 0 and %d", p[0], p[1], x, y, absMax)
		case p[0] == w/2 && (x < absMax/2-32 || x > absMax/2+32 || y < absMax/2-48 || y > absMax/2+48):
			t.Errorf("the centre pixel (%d,%d) gave ABS (%d,%d), not the middle of 0..%d", p[0], p[1], x, y, absMax)
		}
	}

	// A click at a new place: the move, then the button down and up, each its own group.
	pointer("100", "200", "--click", "left")
	want = append(want, tabletEvent{evAbs, absX, absFor(100, w)}, tabletEvent{evAbs, absY, absFor(200, h)}, syn(),
		tabletEvent{evKey, btnLeft, 1}, syn(), tabletEvent{evKey, btnLeft, 0}, syn())
	got = waitTabletEvents(t, s, len(want))
	sameEvents(t, "pointer 100 200 --click left", got, want)

	// The wheel where the pointer already is: no move, one notch up.
	pointer("100", "200", "--wheel", "1")
	want = append(want, tabletEvent{evRel, relWheel, 1}, syn())
	pointer("100", "200", "--wheel", "-2")
	want = append(want, tabletEvent{evRel, relWheel, -2}, syn())
	got = waitTabletEvents(t, s, len(want))
	sameEvents(t, "pointer --wheel 1 then --wheel -2", got, want)

	// Off the screen is refused, and nothing reaches the guest.
	paddock(t, env, "pointer", name, strconv.Itoa(w), "0").expectCleanFailure(t, "outside")
	time.Sleep(300 * time.Millisecond)
	sameEvents(t, "a refused position", tabletEvents(s.stdout.String()), want)

	r = result{stdout: s.stdout.String()}
	r.guestHealthy(t)
	if strings.Contains(r.stdout, "TABLET-FAIL") {
		t.Fatalf("the guest's driver failed\n%s", s.describe())
	}
	paddock(t, env, "stop", "--force", name).expectExit(t, 0)
	s.wait()
	if goPanic.MatchString(s.stderr.String()) {
		t.Fatalf("a Go panic\n%s", s.describe())
	}
}

// sameEvents fails with the first differing event.
func sameEvents(t *testing.T, what string, got, want []tabletEvent) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("%s: event %d is %v, want %v\ngot:  %v\nwant: %v", what, i, got[i], want[i], got, want)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d\ngot:  %v\nwant: %v", what, len(got), len(want), got, want)
	}
}
