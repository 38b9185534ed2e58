package i8042

import "paddock/engine/devices/bytering"

// PS/2 device replies.
const (
	replyACK    = 0xfa
	replyResend = 0xfe
	replyBATOK  = 0xaa
	replyEcho   = 0xee
)

const (
	kbdQueueLen   = 1024
	mouseQueueLen = 64
)

// keyboard is an MF2 keyboard. Its output queue holds bytes as the guest will read them from port 0x60:
// translation to set 1 is applied when a byte is queued, under the command byte in force at that moment.
type keyboard struct {
	out       bytering.Ring
	awaiting  byte // command waiting for its parameter (0xed, 0xf0, 0xf3), 0 if none
	scanning  bool
	set       byte // scan code set, 1 or 2
	leds      byte
	typematic byte
	last      byte // last byte sent, for 0xfe (resend)
}

func (k *keyboard) reset() {
	if k.out.Cap() == 0 {
		k.out = bytering.New(kbdQueueLen)
	}
	k.out.Clear()
	k.awaiting = 0
	k.scanning = true
	k.set = 2
	k.leds = 0
	k.typematic = 0x2b // 10.9 characters/s after 500 ms
	k.last = replyBATOK
}

func (k *keyboard) send(bs ...byte) {
	for _, b := range bs {
		if k.out.Push(b) {
			k.last = b
		}
	}
}

// command handles a byte the guest sends to the keyboard. xlate says whether the controller translates.
func (k *keyboard) command(v byte, xlate bool) {
	if cmd := k.awaiting; cmd != 0 {
		k.awaiting = 0
		if v < 0xed { // a parameter; a command byte instead abandons the pending command
			k.parameter(cmd, v, xlate)
			return
		}
	}
	if v != 0xfe {
		k.out.Clear() // a keyboard discards its buffer on receiving a command
	}
	switch v {
	case 0xed, 0xf0, 0xf3: // set LEDs, get/set scan code set, set typematic: a parameter follows
		k.send(replyACK)
		k.awaiting = v
	case 0xee:
		k.send(replyEcho)
	case 0xf2: // identify: MF2 keyboard; the controller translates 0x83 to 0x41
		if xlate {
			k.send(replyACK, 0xab, 0x41)
		} else {
			k.send(replyACK, 0xab, 0x83)
		}
	case 0xf4:
		k.scanning = true
		k.send(replyACK)
	case 0xf5: // disable: defaults, stop scanning
		k.defaults()
		k.scanning = false
		k.send(replyACK)
	case 0xf6:
		k.defaults()
		k.send(replyACK)
	case 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd: // set 3 key type commands: acknowledged, no effect
		k.send(replyACK)
	case 0xfe:
		k.send(k.last)
	case 0xff:
		k.defaults()
		k.scanning = true
		k.leds = 0
		k.send(replyACK, replyBATOK)
	default:
		k.send(replyResend)
	}
}

func (k *keyboard) defaults() {
	k.set = 2
	k.typematic = 0x2b
}

func (k *keyboard) parameter(cmd, v byte, xlate bool) {
	switch cmd {
	case 0xed:
		k.leds = v & 0x07
		k.send(replyACK)
	case 0xf3:
		k.typematic = v & 0x7f
		k.send(replyACK)
	case 0xf0:
		switch v {
		case 0:
			k.send(replyACK, setNumber(k.set, xlate))
		case 1, 2:
			k.set = v
			k.send(replyACK)
		case 3:
			// Set 3 is not offered; a guest that asks reads back the set in use and falls back to it.
			k.send(replyACK)
		default:
			k.send(replyResend)
		}
	}
}

// setNumber is the reply to "get scan code set", passed through the controller's translation when on.
func setNumber(set byte, xlate bool) byte {
	if !xlate {
		return set
	}
	return [4]byte{0, 0x43, 0x41, 0x3f}[set&3]
}

// typed queues host keystrokes (set 1). It returns how many input bytes were accepted.
func (k *keyboard) typed(set1 []byte, xlate bool) int {
	if !k.scanning {
		return 0
	}
	// With translation on, the guest sees set 1 whatever the keyboard's set; with it off, it sees the
	// keyboard's own set.
	raw := xlate || k.set == 1
	for i, b := range set1 {
		if raw {
			if !k.out.Push(b) {
				return i
			}
			continue
		}
		if k.out.Free() < 2 {
			return i
		}
		k.send(set1ToSet2(b)...)
	}
	return len(set1)
}

// set1ToSet2 converts one set 1 byte to set 2: prefixes pass through, a break code (bit 7) becomes 0xf0 and
// the make code. Extended (0xe0) keys use the same base table.
func set1ToSet2(b byte) []byte {
	switch b {
	case 0xe0, 0xe1:
		return []byte{b}
	}
	code := set2Of[b&0x7f]
	if code == 0 {
		code = b & 0x7f // unknown to the table: pass the make code through
	}
	if b&0x80 != 0 {
		return []byte{0xf0, code}
	}
	return []byte{code}
}

// set2Of maps set 1 make codes to set 2 (the inverse of the controller's translation table).
var set2Of = [128]byte{
	0x01: 0x76, 0x02: 0x16, 0x03: 0x1e, 0x04: 0x26, 0x05: 0x25, 0x06: 0x2e, 0x07: 0x36, 0x08: 0x3d,
	0x09: 0x3e, 0x0a: 0x46, 0x0b: 0x45, 0x0c: 0x4e, 0x0d: 0x55, 0x0e: 0x66, 0x0f: 0x0d, 0x10: 0x15,
	0x11: 0x1d, 0x12: 0x24, 0x13: 0x2d, 0x14: 0x2c, 0x15: 0x35, 0x16: 0x3c, 0x17: 0x43, 0x18: 0x44,
	0x19: 0x4d, 0x1a: 0x54, 0x1b: 0x5b, 0x1c: 0x5a, 0x1d: 0x14, 0x1e: 0x1c, 0x1f: 0x1b, 0x20: 0x23,
	0x21: 0x2b, 0x22: 0x34, 0x23: 0x33, 0x24: 0x3b, 0x25: 0x42, 0x26: 0x4b, 0x27: 0x4c, 0x28: 0x52,
	0x29: 0x0e, 0x2a: 0x12, 0x2b: 0x5d, 0x2c: 0x1a, 0x2d: 0x22, 0x2e: 0x21, 0x2f: 0x2a, 0x30: 0x32,
	0x31: 0x31, 0x32: 0x3a, 0x33: 0x41, 0x34: 0x49, 0x35: 0x4a, 0x36: 0x59, 0x37: 0x7c, 0x38: 0x11,
	0x39: 0x29, 0x3a: 0x58, 0x3b: 0x05, 0x3c: 0x06, 0x3d: 0x04, 0x3e: 0x0c, 0x3f: 0x03, 0x40: 0x0b,
	0x41: 0x83, 0x42: 0x0a, 0x43: 0x01, 0x44: 0x09, 0x45: 0x77, 0x46: 0x7e, 0x47: 0x6c, 0x48: 0x75,
	0x49: 0x7d, 0x4a: 0x7b, 0x4b: 0x6b, 0x4c: 0x73, 0x4d: 0x74, 0x4e: 0x79, 0x4f: 0x69, 0x50: 0x72,
	0x51: 0x7a, 0x52: 0x70, 0x53: 0x71, 0x54: 0x84, 0x56: 0x61, 0x57: 0x78, 0x58: 0x07,
	0x5b: 0x1f, 0x5c: 0x27, 0x5d: 0x2f,
	0x70: 0x13, 0x73: 0x51, 0x79: 0x64, 0x7b: 0x67, 0x7d: 0x6a,
}

// mouse is a plain PS/2 mouse (ID 0) that answers every command Linux's psmouse probe sends, and never moves:
// pointing goes through the virtio tablet.
type mouse struct {
	out        bytering.Ring
	awaiting   byte // 0xe8 (resolution) or 0xf3 (sample rate) waiting for its parameter
	enabled    bool
	remote     bool
	wrap       bool
	scaling21  bool
	rate       byte
	resolution byte
	last       byte
}

func (m *mouse) reset() {
	if m.out.Cap() == 0 {
		m.out = bytering.New(mouseQueueLen)
	}
	m.out.Clear()
	m.awaiting = 0
	m.wrap = false
	m.defaults()
	m.last = replyBATOK
}

func (m *mouse) defaults() {
	m.enabled, m.remote, m.scaling21 = false, false, false
	m.rate, m.resolution = 100, 2
}

func (m *mouse) send(bs ...byte) {
	for _, b := range bs {
		if m.out.Push(b) {
			m.last = b
		}
	}
}

func (m *mouse) command(v byte) {
	if cmd := m.awaiting; cmd != 0 {
		m.awaiting = 0
		if cmd == 0xe8 {
			m.resolution = v & 3
		} else {
			m.rate = v
		}
		m.send(replyACK)
		return
	}
	if m.wrap && v != 0xec && v != 0xff {
		m.send(v) // wrap mode echoes everything
		return
	}
	if v != 0xfe {
		m.out.Clear()
	}
	switch v {
	case 0xe6:
		m.scaling21 = false
		m.send(replyACK)
	case 0xe7:
		m.scaling21 = true
		m.send(replyACK)
	case 0xe8, 0xf3:
		m.awaiting = v
		m.send(replyACK)
	case 0xe9: // status request
		var status byte
		if m.remote {
			status |= 0x40
		}
		if m.enabled {
			status |= 0x20
		}
		if m.scaling21 {
			status |= 0x10
		}
		m.send(replyACK, status, m.resolution, m.rate)
	case 0xea:
		m.remote = false
		m.send(replyACK)
	case 0xeb: // read data: no movement, no buttons
		m.send(replyACK, 0x08, 0x00, 0x00)
	case 0xec:
		m.wrap = false
		m.send(replyACK)
	case 0xee:
		m.wrap = true
		m.send(replyACK)
	case 0xf0:
		m.remote = true
		m.send(replyACK)
	case 0xf2: // identify: standard PS/2 mouse
		m.send(replyACK, 0x00)
	case 0xf4:
		m.enabled = true
		m.send(replyACK)
	case 0xf5:
		m.enabled = false
		m.send(replyACK)
	case 0xf6:
		m.defaults()
		m.send(replyACK)
	case 0xfe:
		m.send(m.last)
	case 0xff:
		m.wrap = false
		m.defaults()
		m.send(replyACK, replyBATOK, 0x00)
	default:
		m.send(replyResend)
	}
}
