package input_test

import (
	"fmt"
	"testing"
	"time"

	"paddock/engine/virtio"
	"paddock/engine/virtio/input"
	"paddock/engine/virtio/virtiotest"
)

func TestPCIIdentity(t *testing.T) {
	g := attach(t, input.NewTablet())
	if g.d.VendorID != 0x1AF4 || g.d.DeviceID != 0x1052 {
		t.Fatalf("ID %04x:%04x, want 1af4:1052", g.d.VendorID, g.d.DeviceID)
	}
	if n := g.d.CommonRead(virtio.CommonNumQueues, 2); n != 2 {
		t.Fatalf("num_queues = %d, want 2 (eventq, statusq)", n)
	}
	if c := g.d.Caps[virtiotest.CapDevice]; c.Length < input.ConfigSize {
		t.Fatalf("device configuration of %d bytes, want %d", c.Length, input.ConfigSize)
	}
	if f := g.d.DeviceFeatures(); f&^(virtio.FeatureVersion1|virtio.FeatureRingIndirectDesc|virtio.FeatureRingEventIdx) != 0 {
		t.Fatalf("device features %#x offer device-specific bits", f)
	}
}

func TestTabletConfiguration(t *testing.T) {
	g := attach(t, input.NewTablet())
	p := g.linuxProbe()
	if p.name != "Paddock Tablet" || p.serial == "" {
		t.Fatalf("name %q serial %q", p.name, p.serial)
	}
	if p.ids[0] != input.BusVirtual {
		t.Fatalf("bustype %#x, want BUS_VIRTUAL", p.ids[0])
	}
	if len(p.props) != 0 || p.hasRep {
		t.Fatalf("properties %v, EV_REP %v: an absolute mouse has neither", p.props, p.hasRep)
	}
	want := map[uint8][]int{
		input.EvKey: {input.BtnLeft, input.BtnRight, input.BtnMiddle, input.BtnSide, input.BtnExtra},
		input.EvRel: {input.RelHWheel, input.RelWheel},
		input.EvAbs: {input.AbsX, input.AbsY},
	}
	if fmt.Sprint(p.bits) != fmt.Sprint(want) {
		t.Fatalf("event bits %v, want %v", p.bits, want)
	}
	for _, axis := range []int{input.AbsX, input.AbsY} {
		if a := p.abs[axis]; a != [5]int32{0, input.AbsMax, 0, 0, 0} {
			t.Fatalf("axis %d: min/max/fuzz/flat/res %v", axis, a)
		}
	}
	// Sizes are exact: the name without a terminator, the bitmap just long enough for BTN_EXTRA, absinfo 20 bytes.
	for _, c := range []struct {
		sel, subsel uint8
		size        int
	}{
		{input.CfgIDName, 0, len("Paddock Tablet")},
		{input.CfgIDDevIDs, 0, 8},
		{input.CfgEvBits, input.EvKey, input.BtnExtra/8 + 1},
		{input.CfgEvBits, input.EvRel, 2},
		{input.CfgEvBits, input.EvAbs, 1},
		{input.CfgAbsInfo, input.AbsX, 20},
		{input.CfgAbsInfo, 0x02, 0}, // ABS_Z is not there
		{input.CfgIDName, 1, 0},     // names have subsel 0 only
		{input.CfgUnset, 0, 0},
		{0x7f, 0x03, 0},
		{0xff, 0xff, 0},
	} {
		if n := g.selectCfg(c.sel, c.subsel); n != c.size {
			t.Errorf("select %#x subsel %#x: size %d, want %d", c.sel, c.subsel, n, c.size)
		}
	}
	// What is read follows what the driver selected, and nothing of an earlier selection shows past size.
	g.selectCfg(input.CfgIDName, 0)
	g.selectCfg(input.CfgAbsInfo, input.AbsY)
	if sel, sub := g.d.DeviceConfigRead(0, 1), g.d.DeviceConfigRead(1, 1); sel != input.CfgAbsInfo || sub != input.AbsY {
		t.Fatalf("select/subsel read back %#x/%#x", sel, sub)
	}
	if rest := g.payload(128)[20:]; fmt.Sprint(rest) != fmt.Sprint(make([]byte, 108)) {
		t.Fatalf("bytes past the absinfo are not zero: %v", rest)
	}
	g.selectCfg(0x42, 0)
	if b := g.payload(128); fmt.Sprint(b) != fmt.Sprint(make([]byte, 128)) {
		t.Fatalf("unknown select has a payload: %v", b)
	}
	// An 8-byte access over the header and the reserved bytes behaves like the single bytes.
	g.selectCfg(input.CfgIDDevIDs, 0)
	if h := g.d.DeviceConfigRead(0, 8); h != 8<<16|input.CfgIDDevIDs {
		t.Fatalf("header = %#x", h)
	}
}

func TestKeyboardConfiguration(t *testing.T) {
	g := attach(t, input.NewKeyboard())
	p := g.linuxProbe()
	if p.name != "Paddock Keyboard" || !p.hasRep {
		t.Fatalf("name %q, EV_REP %v", p.name, p.hasRep)
	}
	keys := p.bits[input.EvKey]
	if len(keys) != input.MaxKey || keys[0] != 1 || keys[len(keys)-1] != input.MaxKey {
		t.Fatalf("%d keys from %v to %v, want 1..%d", len(keys), keys[0], keys[len(keys)-1], input.MaxKey)
	}
	if leds := p.bits[input.EvLed]; fmt.Sprint(leds) != "[0 1 2]" {
		t.Fatalf("LEDs %v", leds)
	}
	if len(p.bits[input.EvAbs]) != 0 || len(p.bits[input.EvRel]) != 0 {
		t.Fatalf("a keyboard with axes: %v", p.bits)
	}
}

func TestMotionScaledToRange(t *testing.T) {
	for _, screen := range [][2]int{{1920, 1080}, {800, 600}} {
		w, h := screen[0], screen[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			tab := input.NewTablet()
			g := start(t, tab)
			g.post(nBuffers)
			for _, c := range []struct{ x, y, ax, ay int }{
				{0, 0, 0, 0},
				{w - 1, 0, input.AbsMax, 0},
				{w - 1, h - 1, input.AbsMax, input.AbsMax},
				{0, h - 1, 0, input.AbsMax},
				{w * 5, -1, input.AbsMax, 0}, // off screen: clamped to the edge
				{-40, h + 300, 0, input.AbsMax},
			} {
				tab.Move(c.x, c.y, w, h)
				g.expectGroup(abs(input.AbsX, int32(c.ax)), abs(input.AbsY, int32(c.ay)))
			}
			// The centre lands within one pixel's worth of the middle of the range.
			tab.Move(w/2, h/2, w, h)
			ev := g.group()
			if len(ev) != 2 {
				t.Fatalf("centre: %v", ev)
			}
			for i, size := range []int{w, h} {
				mid := input.AbsMax / 2
				tol := int32(input.AbsMax/(size-1) + 1)
				if d := ev[i].Value - int32(mid); d < -tol || d > tol {
					t.Fatalf("centre of %d pixels at %d, want %d±%d", size, ev[i].Value, mid, tol)
				}
			}
			// A move to where the pointer already is says nothing; the next event is the wheel.
			tab.Move(w/2, h/2, w, h)
			tab.Move(w/2, h/2, 0, 0) // a screen with no pixels is ignored
			tab.Wheel(1)
			g.expectGroup(rel(input.RelWheel, 1))
		})
	}
}

func TestButtonsAndWheel(t *testing.T) {
	tab := input.NewTablet()
	g := start(t, tab)
	g.post(nBuffers)
	tab.Buttons(input.ButtonLeft)
	g.expectGroup(key(input.BtnLeft, 1))
	tab.Buttons(input.ButtonLeft | input.ButtonRight)
	g.expectGroup(key(input.BtnRight, 1)) // only what changed
	tab.Buttons(input.ButtonLeft | input.ButtonRight)
	tab.Buttons(0)
	g.expectGroup(key(input.BtnLeft, 0), key(input.BtnRight, 0))
	tab.Buttons(input.ButtonMiddle | input.ButtonSide | input.ButtonExtra | 0x80) // unknown bits are ignored
	g.expectGroup(key(input.BtnMiddle, 1), key(input.BtnSide, 1), key(input.BtnExtra, 1))
	tab.Buttons(0)
	g.expectGroup(key(input.BtnMiddle, 0), key(input.BtnSide, 0), key(input.BtnExtra, 0))

	tab.Wheel(1)
	g.expectGroup(rel(input.RelWheel, 1))
	tab.Wheel(-3)
	g.expectGroup(rel(input.RelWheel, -3))
	tab.Wheel(0)
	tab.HWheel(2)
	g.expectGroup(rel(input.RelHWheel, 2))

	// Pointer is one group: position, buttons, wheel, then SYN.
	tab.Pointer(10, 20, 100, 100, input.ButtonLeft, -1)
	g.expectGroup(abs(input.AbsX, scaled(10, 100)), abs(input.AbsY, scaled(20, 100)), key(input.BtnLeft, 1),
		rel(input.RelWheel, -1))
	tab.Pointer(10, 20, 100, 100, 0, 0)
	g.expectGroup(key(input.BtnLeft, 0))
	if n := tab.Pending(); n != 0 {
		t.Fatalf("%d events pending after delivery", n)
	}
}

func scaled(v, size int) int32 { return int32((v*input.AbsMax + (size-1)/2) / (size - 1)) }

func TestEventsWaitForBuffers(t *testing.T) {
	tab := input.NewTablet()
	g := start(t, tab)
	tab.Move(5, 5, 10, 10)
	tab.Buttons(input.ButtonRight)
	tab.Buttons(0)
	time.Sleep(20 * time.Millisecond)
	if used := g.d.Queues[eventq].TakeUsed(); len(used) != 0 {
		t.Fatalf("%d buffers used before any was posted", len(used))
	}
	if n := tab.Pending(); n != 7 {
		t.Fatalf("%d events pending, want 7", n)
	}
	// Two buffers at a time: a group split over refills still arrives whole and in order.
	g.post(2)
	g.expectGroup(abs(input.AbsX, scaled(5, 10)), abs(input.AbsY, scaled(5, 10)))
	g.expectGroup(key(input.BtnRight, 1))
	g.expectGroup(key(input.BtnRight, 0))
}

func TestDriverLearnsPositionOnStart(t *testing.T) {
	tab := input.NewTablet()
	g := attach(t, tab)
	tab.Move(99, 0, 100, 100) // before the driver: remembered, not queued
	tab.Buttons(input.ButtonLeft)
	tab.Wheel(4)
	if err := g.d.Setup(virtio.FeatureVersion1, 2); err != nil {
		t.Fatal(err)
	}
	g.post(nBuffers)
	g.expectGroup(abs(input.AbsX, input.AbsMax), abs(input.AbsY, 0))
	// The new driver saw no button go down, so the release says nothing and the next press is sent.
	tab.Buttons(0)
	tab.Buttons(input.ButtonRight)
	g.expectGroup(key(input.BtnRight, 1))
}

func TestQueueIsBounded(t *testing.T) {
	tab := input.NewTablet()
	g := start(t, tab)
	// A guest that never reads: clicks pile up to the bound, then the oldest go.
	const clicks = 2000
	for i := 0; i < clicks; i++ {
		tab.Buttons(input.ButtonLeft)
		tab.Buttons(0)
	}
	if n := tab.Pending(); n > input.MaxPending || n < input.MaxPending-4 {
		t.Fatalf("%d events pending, want just under %d", n, input.MaxPending)
	}
	if tab.Dropped() == 0 {
		t.Fatal("nothing counted as dropped")
	}
	// Motion on a full queue replaces pending motion instead of pushing clicks out.
	dropped := tab.Dropped()
	for x := 0; x < 500; x++ {
		tab.Move(x, x, 1000, 1000)
	}
	if n := tab.Pending(); n > input.MaxPending {
		t.Fatalf("%d events pending after moves", n)
	}
	if d := tab.Dropped() - dropped; d > 2 {
		t.Fatalf("500 moves pushed %d click groups out", d)
	}
	g.post(nBuffers)
	events := g.drain(tab.Device)
	if len(events) > input.MaxPending {
		t.Fatalf("%d events delivered, bound %d", len(events), input.MaxPending)
	}
	// Every group is whole: press or release, or a position, then SYN; the last one is the newest position.
	var last []input.Event
	var groups int
	for len(events) > 0 {
		i := 0
		for events[i].Type != input.EvSyn {
			i++
			if i == len(events) {
				t.Fatalf("events end without SYN_REPORT: %v", events)
			}
		}
		grp := events[:i]
		events = events[i+1:]
		groups++
		switch {
		case len(grp) == 1 && grp[0].Type == input.EvKey && grp[0].Code == input.BtnLeft:
		case len(grp) == 2 && grp[0].Code == input.AbsX && grp[1].Code == input.AbsY:
		default:
			t.Fatalf("malformed group %v", grp)
		}
		last = grp
	}
	if want := fmt.Sprint([]input.Event{abs(input.AbsX, scaled(499, 1000)), abs(input.AbsY, scaled(499, 1000))}); fmt.Sprint(last) != want {
		t.Fatalf("last group %v, want %v", last, want)
	}
	if groups < input.MaxPending/3 {
		t.Fatalf("only %d groups delivered", groups)
	}
	// The device keeps working once the guest reads again, and restates the button whose changes were dropped.
	tab.Buttons(input.ButtonMiddle)
	g.expectGroup(key(input.BtnMiddle, 1), key(input.BtnLeft, 0))
}

func TestResetDropsPending(t *testing.T) {
	tab := input.NewTablet()
	g := start(t, tab)
	tab.Wheel(1)
	g.selectCfg(input.CfgIDName, 0)
	if err := g.d.Reset(); err != nil {
		t.Fatal(err)
	}
	if n := tab.Pending(); n != 0 {
		t.Fatalf("%d events survived reset", n)
	}
	if sel := g.d.DeviceConfigRead(0, 2); sel != 0 {
		t.Fatalf("select/subsel %#x after reset", sel)
	}
	tab.Wheel(1) // no driver: dropped
	if n := tab.Pending(); n != 0 {
		t.Fatalf("%d events queued with no driver", n)
	}
}

func TestHostileEventBuffers(t *testing.T) {
	cases := map[string]func(g *guest){
		"read-only buffer": func(g *guest) {
			addr, _ := g.m.Alloc(8, 8)
			g.d.Queues[eventq].Add([]virtiotest.Buf{{Addr: addr, Len: 8}})
		},
		"too short": func(g *guest) {
			addr, _ := g.m.Alloc(8, 8)
			g.d.Queues[eventq].Add([]virtiotest.Buf{{Addr: addr, Len: 7, Write: true}})
		},
		"outside RAM": func(g *guest) {
			g.d.Queues[eventq].Add([]virtiotest.Buf{{Addr: 1 << 40, Len: 8, Write: true}})
		},
		"straddles the end of RAM": func(g *guest) {
			g.d.Queues[eventq].Add([]virtiotest.Buf{{Addr: uint64(len(g.m.RAM)) - 4, Len: 8, Write: true}})
		},
		"descriptor loop": func(g *guest) {
			q := g.d.Queues[eventq]
			addr, _ := g.m.Alloc(8, 8)
			q.WriteDesc(0, addr, 8, virtio.DescFlagWrite|virtio.DescFlagNext, 1)
			q.WriteDesc(1, addr, 8, virtio.DescFlagWrite|virtio.DescFlagNext, 0)
			q.Publish(0)
		},
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			tab := input.NewTablet()
			g := start(t, tab)
			before := g.m.MSI.Count(0)
			build(g)
			g.d.Queues[eventq].Kick()
			tab.Wheel(1) // the device looks at buffers when it has something to say
			if !g.m.MSI.WaitCount(0, before+1, wait) {
				t.Fatal("no configuration-change interrupt")
			}
			if g.d.Status()&virtio.StatusDeviceNeedsReset == 0 {
				t.Fatalf("status %#x lacks DEVICE_NEEDS_RESET", g.d.Status())
			}
			// After a reset the device works again.
			if err := g.d.Setup(virtio.FeatureVersion1, 2); err != nil {
				t.Fatal(err)
			}
			g.bufs = map[uint16]uint64{}
			g.post(4)
			tab.Wheel(-1)
			g.expectGroup(rel(input.RelWheel, -1))
		})
	}
}

func TestScatteredAndMixedEventBuffers(t *testing.T) {
	tab := input.NewTablet()
	g := start(t, tab)
	q := g.d.Queues[eventq]
	hdr, _ := g.m.Alloc(16, 8)
	a, _ := g.m.Alloc(4, 8)
	b, _ := g.m.Alloc(4, 8)
	// A device-readable part first, then the 8 bytes split over two writable buffers: all allowed.
	q.Add([]virtiotest.Buf{{Addr: hdr, Len: 16}, {Addr: a, Len: 4, Write: true}, {Addr: b, Len: 4, Write: true}})
	q.Kick()
	tab.Wheel(-2)
	used, err := q.Wait(1, wait)
	if err != nil {
		t.Fatal(err)
	}
	var raw [input.EventSize]byte
	copy(raw[:4], g.m.RAM[a:])
	copy(raw[4:], g.m.RAM[b:])
	if ev := input.DecodeEvent(raw); ev != rel(input.RelWheel, -2) || used[0].Len != input.EventSize {
		t.Fatalf("event %v, used length %d", ev, used[0].Len)
	}
	if g.d.Status()&virtio.StatusDeviceNeedsReset != 0 {
		t.Fatal("a valid scattered buffer broke the device")
	}
}

func TestStatusQueue(t *testing.T) {
	kbd := input.NewKeyboard()
	g := start(t, kbd)
	send := func(bufs []virtiotest.Buf) {
		t.Helper()
		n, err := g.d.Queues[statusq].Submit(bufs, wait)
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("status buffer used with length %d, want 0", n)
		}
	}
	status := func(ev input.Event) []virtiotest.Buf {
		addr, _ := g.m.Alloc(8, 8)
		var b [8]byte
		b[0], b[1] = byte(ev.Type), byte(ev.Type>>8)
		b[2], b[3] = byte(ev.Code), byte(ev.Code>>8)
		b[4] = byte(ev.Value)
		copy(g.m.RAM[addr:], b[:])
		return []virtiotest.Buf{{Addr: addr, Len: 8}}
	}
	send(status(input.Event{Type: input.EvLed, Code: input.LedCapsLock, Value: 1}))
	send(status(input.Event{Type: input.EvLed, Code: input.LedNumLock, Value: 1}))
	send(status(input.Event{Type: input.EvLed, Code: input.LedNumLock, Value: 0}))
	if l := kbd.LEDs(); l != 1<<input.LedCapsLock {
		t.Fatalf("LEDs %#b, want caps lock only", l)
	}
	// Junk is consumed and ignored: an unknown type, an LED the keyboard lacks, a short buffer, a writable one.
	send(status(input.Event{Type: 0x17, Code: 3, Value: 9}))
	send(status(input.Event{Type: input.EvLed, Code: 9, Value: 1}))
	short, _ := g.m.Alloc(3, 8)
	send([]virtiotest.Buf{{Addr: short, Len: 3}})
	wr, _ := g.m.Alloc(8, 8)
	send([]virtiotest.Buf{{Addr: wr, Len: 8, Write: true}})
	if l := kbd.LEDs(); l != 1<<input.LedCapsLock {
		t.Fatalf("LEDs %#b after junk", l)
	}
	// The tablet has no LEDs and ignores status events too.
	tab := input.NewTablet()
	tg := start(t, tab)
	addr, _ := tg.m.Alloc(8, 8)
	if _, err := tg.d.Queues[statusq].Submit([]virtiotest.Buf{{Addr: addr, Len: 8}}, wait); err != nil {
		t.Fatal(err)
	}
	// A bad status chain breaks the device.
	before := g.m.MSI.Count(0)
	g.d.Queues[statusq].Add([]virtiotest.Buf{{Addr: 1 << 40, Len: 8}})
	g.d.Queues[statusq].Kick()
	if !g.m.MSI.WaitCount(0, before+1, wait) || g.d.Status()&virtio.StatusDeviceNeedsReset == 0 {
		t.Fatalf("status %#x after a status buffer outside RAM", g.d.Status())
	}
}

func TestKeyboardKeys(t *testing.T) {
	kbd := input.NewKeyboard()
	g := start(t, kbd)
	g.post(nBuffers)
	const keyA, keyLeftShift = 30, 42
	kbd.Key(keyLeftShift, true)
	kbd.Key(keyA, true)
	kbd.Key(keyA, true) // already down: nothing
	kbd.Key(keyA, false)
	kbd.Key(keyLeftShift, false)
	kbd.Key(0, true)             // KEY_RESERVED
	kbd.Key(input.BtnLeft, true) // not a key of this keyboard
	kbd.Key(input.MaxKey, true)
	g.expectGroup(key(keyLeftShift, 1))
	g.expectGroup(key(keyA, 1))
	g.expectGroup(key(keyA, 0))
	g.expectGroup(key(keyLeftShift, 0))
	g.expectGroup(key(input.MaxKey, 1))
}

// A guest that saw a press but, reading too slowly, lost the release must not keep the button held: the next group
// restates it.
func TestDroppedReleaseIsRestated(t *testing.T) {
	tab := input.NewTablet()
	g := start(t, tab)
	g.hold = true
	g.post(2)
	tab.Buttons(input.ButtonLeft)
	g.expectGroup(key(input.BtnLeft, 1))
	// The guest stops reading; the release is pushed out by a flood of wheel turns.
	tab.Buttons(0)
	for i := 0; i < input.MaxPending; i++ {
		tab.Wheel(1)
	}
	if tab.Dropped() == 0 {
		t.Fatal("nothing dropped")
	}
	g.hold = false
	g.post(nBuffers - 2)
	for _, ev := range g.drain(tab.Device) {
		if ev.Type == input.EvKey {
			t.Fatalf("the release survived the flood: %v", ev)
		}
	}
	tab.Move(3, 4, 10, 10)
	g.expectGroup(abs(input.AbsX, scaled(3, 10)), abs(input.AbsY, scaled(4, 10)), key(input.BtnLeft, 0))
	tab.Wheel(1)
	g.expectGroup(rel(input.RelWheel, 1)) // restated once only
}

func TestDroppedKeyIsRestated(t *testing.T) {
	kbd := input.NewKeyboard()
	g := start(t, kbd)
	const keyLeftCtrl, keyA, keyB = 29, 30, 48
	kbd.Key(keyLeftCtrl, true)
	for i := 0; i < input.MaxPending; i++ {
		kbd.Key(keyA, i%2 == 0)
	}
	kbd.Key(keyLeftCtrl, false)
	for i := 0; i < input.MaxPending; i++ {
		kbd.Key(keyA, i%2 == 0)
	}
	g.post(nBuffers)
	g.drain(kbd.Device)
	kbd.Key(keyB, true)
	g.expectGroup(key(keyB, 1), key(keyLeftCtrl, 0), key(keyA, 0))
}
