package display

import (
	"bytes"
	"testing"
)

func scancodes(t *testing.T, ev []KeyEvent) []byte {
	t.Helper()
	var out []byte
	for _, e := range ev {
		b, err := Set1(e.Key, e.Down)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

func TestComboCtrlAltDelete(t *testing.T) {
	keys, err := ParseCombo("ctrl+alt+delete")
	if err != nil {
		t.Fatal(err)
	}
	got := scancodes(t, ComboEvents(keys))
	want := []byte{0x1D, 0x38, 0xE0, 0x53, 0xE0, 0xD3, 0xB8, 0x9D}
	if !bytes.Equal(got, want) {
		t.Fatalf("ctrl+alt+delete = % x, want % x", got, want)
	}
}

func TestTextShiftsCapitalsAndSymbols(t *testing.T) {
	ev, err := TextEvents("Hi!\n")
	if err != nil {
		t.Fatal(err)
	}
	got := scancodes(t, ev)
	want := []byte{0x2A, 0x23, 0xA3, 0xAA, 0x17, 0x97, 0x2A, 0x02, 0x82, 0xAA, 0x1C, 0x9C}
	if !bytes.Equal(got, want) {
		t.Fatalf("Hi!\\n = % x, want % x", got, want)
	}
	if _, err := TextEvents("é"); err == nil {
		t.Fatal("a character a US keyboard lacks was accepted")
	}
}

func TestKeyNamesAndSpecialSequences(t *testing.T) {
	for name, want := range map[string][]byte{
		"a": {0x1E}, "z": {0x2C}, "0": {0x0B}, "f1": {0x3B}, "f10": {0x44}, "f11": {0x57}, "f12": {0x58},
		"up": {0xE0, 0x48}, "pgdn": {0xE0, 0x51}, "kp5": {0x4C}, "kpenter": {0xE0, 0x1C}, "esc": {0x01},
		"printscreen": {0xE0, 0x2A, 0xE0, 0x37}, "pause": {0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5}, "super": {0xE0, 0x5B},
	} {
		k, err := KeyByName(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, _ := Set1(k, true)
		if !bytes.Equal(got, want) {
			t.Errorf("%s make = % x, want % x", name, got, want)
		}
	}
	if b, _ := Set1(KeyPause, false); len(b) != 0 {
		t.Errorf("pause has a break code % x", b)
	}
	for _, bad := range []string{"f13", "f0", "nosuchkey", "", "ff"} {
		if _, err := KeyByName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ParseCombo("ctrl++a"); err == nil {
		t.Error("empty combo part accepted")
	}
}

func TestX11Keycodes(t *testing.T) {
	// X11 keycode 38 is the key labelled A on a US keyboard (evdev 30), whatever the layout says it types.
	if k, ok := FromX11Keycode(38); !ok || k != 30 {
		t.Fatalf("X11 keycode 38 = %d, %v", k, ok)
	}
	if _, ok := FromX11Keycode(3); ok {
		t.Fatal("keycode below 8 accepted")
	}
}
