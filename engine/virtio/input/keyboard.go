package input

// MaxKey is the highest key code the keyboard advertises; codes above it are buttons, not keys.
const MaxKey = 0xff

// Keyboard is a keyboard with every evdev key code from 1 to MaxKey, auto-repeat done by the guest (EV_REP) and
// the three lock LEDs. Its methods are safe for concurrent use.
type Keyboard struct {
	*Device
	// Guarded by Device.mu.
	down [(MaxKey + 1) / 64]uint64 // keys the guest has seen go down
	leds uint8
}

// NewKeyboard makes a keyboard for virtio.NewPCI.
func NewKeyboard() *Keyboard {
	k := &Keyboard{Device: newDevice(identity{name: "Paddock Keyboard", serial: "paddock-keyboard-0", product: 0x0001})}
	keys := make([]uint16, 0, MaxKey)
	for c := uint16(1); c <= MaxKey; c++ {
		keys = append(keys, c)
	}
	k.setBits(CfgEvBits, EvKey, keys)
	// The driver only asks whether EV_REP is there (a non-zero size); the bitmap itself says nothing.
	k.set(CfgEvBits, EvRep, []byte{0})
	k.setBits(CfgEvBits, EvLed, []uint16{LedNumLock, LedCapsLock, LedScrollLock})
	k.activated = func() { k.down = [len(k.down)]uint64{} }
	k.status = k.statusLocked
	k.keyState = func(code uint16) (bool, bool) {
		ok := code >= 1 && code <= MaxKey
		return ok && k.down[code/64]&(1<<(code%64)) != 0, ok
	}
	return k
}

// Key sends key code (an evdev code, 1..MaxKey) going down or up. A key already in that state, or a code the
// keyboard does not have, sends nothing.
func (k *Keyboard) Key(code uint16, pressed bool) {
	if code == 0 || code > MaxKey {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.env == nil {
		return
	}
	word, bit := code/64, uint64(1)<<(code%64)
	if (k.down[word]&bit != 0) == pressed {
		return
	}
	k.down[word] ^= bit
	k.pushLocked(group{events: []Event{keyEvent(code, pressed), synReport()}})
}

func keyEvent(code uint16, down bool) Event {
	ev := Event{Type: EvKey, Code: code}
	if down {
		ev.Value = 1
	}
	return ev
}

// LEDs reports the lock LEDs the guest last set: bit LedNumLock, LedCapsLock, LedScrollLock.
func (k *Keyboard) LEDs() uint8 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.leds
}

func (k *Keyboard) statusLocked(ev Event) {
	if ev.Type != EvLed || ev.Code > LedScrollLock {
		return
	}
	bit := uint8(1) << ev.Code
	if ev.Value != 0 {
		k.leds |= bit
	} else {
		k.leds &^= bit
	}
}
