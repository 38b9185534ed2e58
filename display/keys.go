package display

import (
	"fmt"
	"strings"
)

// Key is a physical key, named by its Linux evdev code (linux/input-event-codes.h). X11 keycodes are evdev codes
// plus 8, so a key reaches the guest as the same physical key whatever the host's layout.
type Key uint16

// Some keys by evdev code.
const (
	KeyEsc       Key = 1
	KeyBackspace Key = 14
	KeyTab       Key = 15
	KeyEnter     Key = 28
	KeyLeftCtrl  Key = 29
	KeyLeftShift Key = 42
	KeyLeftAlt   Key = 56
	KeySpace     Key = 57
	KeyF1        Key = 59
	KeyDelete    Key = 111
	KeySysRq     Key = 99
	KeyPause     Key = 119
)

// FromX11Keycode converts an X11 keycode (what Fyne reports as the physical scan code) to a Key.
func FromX11Keycode(code int) (Key, bool) {
	if code < 8+1 || code > 8+255 {
		return 0, false
	}
	k := Key(code - 8)
	_, ok := set1[k]
	return k, ok
}

// set1 gives each key's PS/2 scan code set 1 make code; 0xE0xx marks an extended key.
var set1 = map[Key]uint16{
	1: 0x01, 2: 0x02, 3: 0x03, 4: 0x04, 5: 0x05, 6: 0x06, 7: 0x07, 8: 0x08, 9: 0x09, 10: 0x0A, 11: 0x0B,
	12: 0x0C, 13: 0x0D, 14: 0x0E, 15: 0x0F, 16: 0x10, 17: 0x11, 18: 0x12, 19: 0x13, 20: 0x14, 21: 0x15,
	22: 0x16, 23: 0x17, 24: 0x18, 25: 0x19, 26: 0x1A, 27: 0x1B, 28: 0x1C, 29: 0x1D, 30: 0x1E, 31: 0x1F,
	32: 0x20, 33: 0x21, 34: 0x22, 35: 0x23, 36: 0x24, 37: 0x25, 38: 0x26, 39: 0x27, 40: 0x28, 41: 0x29,
	42: 0x2A, 43: 0x2B, 44: 0x2C, 45: 0x2D, 46: 0x2E, 47: 0x2F, 48: 0x30, 49: 0x31, 50: 0x32, 51: 0x33,
	52: 0x34, 53: 0x35, 54: 0x36, 55: 0x37, 56: 0x38, 57: 0x39, 58: 0x3A, 59: 0x3B, 60: 0x3C, 61: 0x3D,
	62: 0x3E, 63: 0x3F, 64: 0x40, 65: 0x41, 66: 0x42, 67: 0x43, 68: 0x44, 69: 0x45, 70: 0x46, 71: 0x47,
	72: 0x48, 73: 0x49, 74: 0x4A, 75: 0x4B, 76: 0x4C, 77: 0x4D, 78: 0x4E, 79: 0x4F, 80: 0x50, 81: 0x51,
	82: 0x52, 83: 0x53, 86: 0x56, 87: 0x57, 88: 0x58, 117: 0x59,
	96: 0xE01C, 97: 0xE01D, 98: 0xE035, 99: 0xE037, 100: 0xE038, 102: 0xE047, 103: 0xE048, 104: 0xE049,
	105: 0xE04B, 106: 0xE04D, 107: 0xE04F, 108: 0xE050, 109: 0xE051, 110: 0xE052, 111: 0xE053,
	113: 0xE020, 114: 0xE02E, 115: 0xE030, 116: 0xE05E, 119: 0xE11D, 125: 0xE05B, 126: 0xE05C, 127: 0xE05D,
}

// Set1 is the scan code sequence a PS/2 keyboard (translated to set 1, as a PC's i8042 does) sends when k goes
// down or comes up.
func Set1(k Key, down bool) ([]byte, error) {
	code, ok := set1[k]
	if !ok {
		return nil, fmt.Errorf("key %d has no PS/2 scan code", k)
	}
	switch k {
	case KeyPause: // a make-only sequence: Pause has no break code
		if !down {
			return nil, nil
		}
		return []byte{0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5}, nil
	case KeySysRq: // Print Screen comes with a fake shift around it
		if down {
			return []byte{0xE0, 0x2A, 0xE0, 0x37}, nil
		}
		return []byte{0xE0, 0xB7, 0xE0, 0xAA}, nil
	}
	b := byte(code)
	if !down {
		b |= 0x80
	}
	if code>>8 == 0xE0 {
		return []byte{0xE0, b}, nil
	}
	return []byte{b}, nil
}

// keyNames are the names send-keys understands besides single letters and digits.
var keyNames = map[string]Key{
	"esc": 1, "escape": 1, "minus": 12, "equal": 13, "backspace": 14, "tab": 15, "leftbracket": 26,
	"rightbracket": 27, "enter": 28, "return": 28, "ctrl": 29, "lctrl": 29, "control": 29, "semicolon": 39,
	"apostrophe": 40, "grave": 41, "shift": 42, "lshift": 42, "backslash": 43, "comma": 51, "dot": 52,
	"period": 52, "slash": 53, "rshift": 54, "kpmultiply": 55, "kpasterisk": 55, "alt": 56, "lalt": 56,
	"space": 57, "capslock": 58, "numlock": 69, "scrolllock": 70, "kp7": 71, "kp8": 72, "kp9": 73,
	"kpminus": 74, "kp4": 75, "kp5": 76, "kp6": 77, "kpplus": 78, "kp1": 79, "kp2": 80, "kp3": 81, "kp0": 82,
	"kpdot": 83, "102nd": 86, "kpenter": 96, "rctrl": 97, "kpdivide": 98, "kpslash": 98, "sysrq": 99,
	"printscreen": 99, "print": 99, "ralt": 100, "altgr": 100, "home": 102, "up": 103, "pageup": 104,
	"pgup": 104, "left": 105, "right": 106, "end": 107, "down": 108, "pagedown": 109, "pgdn": 109,
	"insert": 110, "ins": 110, "delete": 111, "del": 111, "mute": 113, "volumedown": 114, "volumeup": 115,
	"power": 116, "kpequal": 117, "pause": 119, "super": 125, "meta": 125, "win": 125, "lsuper": 125,
	"rsuper": 126, "menu": 127, "compose": 127,
}

// letterKeys are the evdev codes of a..z in alphabetical order; digitKeys of 0..9.
var (
	letterKeys = [26]Key{30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22, 47, 17, 45, 21, 44}
	digitKeys  = [10]Key{11, 2, 3, 4, 5, 6, 7, 8, 9, 10}
)

// KeyByName finds a key by name: a letter, a digit, f1..f24, or a name such as enter, ctrl, alt, delete, up.
func KeyByName(name string) (Key, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	switch {
	case len(n) == 1 && n[0] >= 'a' && n[0] <= 'z':
		return letterKeys[n[0]-'a'], nil
	case len(n) == 1 && n[0] >= '0' && n[0] <= '9':
		return digitKeys[n[0]-'0'], nil
	case len(n) >= 2 && n[0] == 'f':
		var f int
		if _, err := fmt.Sscanf(n, "f%d", &f); err == nil && fmt.Sprintf("f%d", f) == n {
			switch {
			case f >= 1 && f <= 10:
				return KeyF1 + Key(f-1), nil
			case f == 11 || f == 12:
				return Key(87 + f - 11), nil
			}
			return 0, fmt.Errorf("no key %q: function keys run from f1 to f12", name)
		}
	}
	if k, ok := keyNames[n]; ok {
		return k, nil
	}
	return 0, fmt.Errorf("no key named %q", name)
}

// ParseCombo parses "ctrl+alt+delete" into the keys to hold down, in order.
func ParseCombo(combo string) ([]Key, error) {
	var keys []Key
	for _, part := range strings.Split(combo, "+") {
		if part == "" {
			return nil, fmt.Errorf("key combination %q has an empty part", combo)
		}
		k, err := KeyByName(part)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// KeyEvent is one key going down or up.
type KeyEvent struct {
	Key  Key
	Down bool
}

// ComboEvents presses keys in order and releases them in reverse, as a person types a shortcut.
func ComboEvents(keys []Key) []KeyEvent {
	ev := make([]KeyEvent, 0, 2*len(keys))
	for _, k := range keys {
		ev = append(ev, KeyEvent{k, true})
	}
	for i := len(keys) - 1; i >= 0; i-- {
		ev = append(ev, KeyEvent{keys[i], false})
	}
	return ev
}

// usShifted maps the characters typed with Shift on a US keyboard to their unshifted character.
var usShifted = map[rune]rune{
	'!': '1', '@': '2', '#': '3', '$': '4', '%': '5', '^': '6', '&': '7', '*': '8', '(': '9', ')': '0',
	'_': '-', '+': '=', '{': '[', '}': ']', '|': '\\', ':': ';', '"': '\'', '~': '`', '<': ',', '>': '.', '?': '/',
}

var usPlain = map[rune]Key{
	'-': 12, '=': 13, '[': 26, ']': 27, ';': 39, '\'': 40, '`': 41, '\\': 43, ',': 51, '.': 52, '/': 53,
	' ': KeySpace, '\n': KeyEnter, '\t': KeyTab,
}

// TextEvents types text on a US-layout keyboard (the guest's default), with Shift for capitals and symbols.
// Characters a US keyboard cannot type are an error, so nothing is typed half-way.
func TextEvents(text string) ([]KeyEvent, error) {
	var ev []KeyEvent
	for _, r := range text {
		shift := false
		if u, ok := usShifted[r]; ok {
			r, shift = u, true
		} else if r >= 'A' && r <= 'Z' {
			r, shift = r-'A'+'a', true
		}
		var k Key
		switch {
		case r >= 'a' && r <= 'z':
			k = letterKeys[r-'a']
		case r >= '0' && r <= '9':
			k = digitKeys[r-'0']
		default:
			var ok bool
			if k, ok = usPlain[r]; !ok {
				return nil, fmt.Errorf("cannot type %q on a US keyboard", r)
			}
		}
		if shift {
			ev = append(ev, KeyEvent{KeyLeftShift, true})
		}
		ev = append(ev, KeyEvent{k, true}, KeyEvent{k, false})
		if shift {
			ev = append(ev, KeyEvent{KeyLeftShift, false})
		}
	}
	return ev, nil
}
