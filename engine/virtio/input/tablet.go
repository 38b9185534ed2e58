package input

import "slices"

// Button is a set of tablet buttons. Left, right and middle have the same bits as display.Buttons.
type Button uint8

// Tablet buttons.
const (
	ButtonLeft Button = 1 << iota
	ButtonRight
	ButtonMiddle
	ButtonSide
	ButtonExtra
)

// buttonCodes gives each Button bit's evdev code, in bit order.
var buttonCodes = [...]uint16{BtnLeft, BtnRight, BtnMiddle, BtnSide, BtnExtra}

// Tablet is an absolute pointer: a position over the guest's screen, five buttons, a vertical and a horizontal
// wheel. Like QEMU's virtio tablet it has no input properties, so guests treat it as an absolute mouse rather than
// a touchscreen. Its methods are safe for concurrent use; with no driver running they only remember the position.
type Tablet struct {
	*Device
	// Guarded by Device.mu: what the guest has been told, or will be by the pending queue.
	x, y    int32
	havePos bool
	buttons Button
}

// NewTablet makes a tablet for virtio.NewPCI.
func NewTablet() *Tablet {
	t := &Tablet{Device: newDevice(identity{name: "Paddock Tablet", serial: "paddock-tablet-0", product: 0x0003})}
	keys := make([]uint16, 0, len(buttonCodes))
	keys = append(keys, buttonCodes[:]...)
	t.setBits(CfgEvBits, EvKey, keys)
	t.setBits(CfgEvBits, EvRel, []uint16{RelHWheel, RelWheel})
	t.setBits(CfgEvBits, EvAbs, []uint16{AbsX, AbsY})
	t.setAbsInfo(AbsX, 0, AbsMax)
	t.setAbsInfo(AbsY, 0, AbsMax)
	t.activated = t.activatedLocked
	t.keyState = func(code uint16) (bool, bool) {
		i := slices.Index(buttonCodes[:], code)
		return i >= 0 && t.buttons&(1<<i) != 0, i >= 0
	}
	return t
}

// activatedLocked tells a new driver where the pointer is; its view of the buttons starts all up.
func (t *Tablet) activatedLocked() {
	t.buttons = 0
	if t.havePos {
		t.pushLocked(group{events: []Event{{EvAbs, AbsX, t.x}, {EvAbs, AbsY, t.y}, synReport()}, motion: true})
	}
}

// Move places the pointer at pixel (x, y) of a width x height screen, scaled to 0..AbsMax; a point outside the
// screen is clamped to its edge. A screen with no pixels is ignored.
func (t *Tablet) Move(x, y, width, height int) {
	if width <= 0 || height <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.emitLocked(true, scale(x, width), scale(y, height), t.buttons, 0, 0)
}

// Buttons sets which buttons are held; only the ones that changed are sent.
func (t *Tablet) Buttons(set Button) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.emitLocked(false, 0, 0, set, 0, 0)
}

// Wheel turns the vertical wheel by delta notches, positive away from the user (scrolling up).
func (t *Tablet) Wheel(delta int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.emitLocked(false, 0, 0, t.buttons, clampInt32(delta), 0)
}

// HWheel turns the horizontal wheel by delta notches, positive to the right.
func (t *Tablet) HWheel(delta int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.emitLocked(false, 0, 0, t.buttons, 0, clampInt32(delta))
}

// Pointer does Move, Buttons and Wheel at once, as one event group, so that a click lands where the pointer is.
func (t *Tablet) Pointer(x, y, width, height int, buttons Button, wheel int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	move := width > 0 && height > 0
	var ax, ay int32
	if move {
		ax, ay = scale(x, width), scale(y, height)
	}
	t.emitLocked(move, ax, ay, buttons, clampInt32(wheel), 0)
}

// emitLocked queues the events that change the guest's view: the position (if move), buttons that differ from
// what it has, wheel turns; then SYN_REPORT.
func (t *Tablet) emitLocked(move bool, x, y int32, buttons Button, wheel, hwheel int32) {
	if t.env == nil {
		// Nobody to tell; a driver that starts later learns the position from activatedLocked.
		if move {
			t.x, t.y, t.havePos = x, y, true
		}
		return
	}
	events := make([]Event, 0, 8)
	if move && (!t.havePos || x != t.x || y != t.y) {
		events = append(events, Event{EvAbs, AbsX, x}, Event{EvAbs, AbsY, y})
		t.x, t.y, t.havePos = x, y, true
	}
	motion := len(events) > 0
	for i, code := range buttonCodes {
		bit := Button(1) << i
		if (buttons^t.buttons)&bit == 0 {
			continue
		}
		var v int32
		if buttons&bit != 0 {
			v = 1
		}
		events = append(events, Event{EvKey, code, v})
		motion = false
	}
	t.buttons = buttons & (1<<len(buttonCodes) - 1)
	if wheel != 0 {
		events = append(events, Event{EvRel, RelWheel, wheel})
		motion = false
	}
	if hwheel != 0 {
		events = append(events, Event{EvRel, RelHWheel, hwheel})
		motion = false
	}
	if len(events) == 0 {
		return
	}
	t.pushLocked(group{events: append(events, synReport()), motion: motion})
}

// scale maps pixel v of a screen size pixels wide onto 0..AbsMax, the last pixel onto AbsMax exactly.
func scale(v, size int) int32 {
	if size <= 1 {
		return 0
	}
	v = max(0, min(v, size-1))
	span := int64(size - 1)
	return int32((int64(v)*AbsMax + span/2) / span)
}
