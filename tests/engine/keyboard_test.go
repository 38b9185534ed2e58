package engine_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"paddock/display"
)

var scanCodeLine = regexp.MustCompile(`(?m)^(SC|AUX) ([0-9a-f]{2})\r?$`)

// scanCodes is every byte the kbdecho guest has read from port 0x60 so far; a byte from the mouse port fails t.
func scanCodes(t *testing.T, s *session) []byte {
	t.Helper()
	var codes []byte
	for _, m := range scanCodeLine.FindAllStringSubmatch(s.stdout.String(), -1) {
		if m[1] == "AUX" {
			t.Fatalf("the guest read a mouse byte %s from a keyboard that was typed on\n%s", m[2], s.describe())
		}
		v, _ := strconv.ParseUint(m[2], 16, 8)
		codes = append(codes, byte(v))
	}
	return codes
}

// waitScanCodes waits until the guest has read n bytes, then a little longer so that extra bytes show too.
func waitScanCodes(t *testing.T, s *session, n int) []byte {
	t.Helper()
	deadline := time.Now().Add(runTimeout())
	for len(scanCodes(t, s)) < n {
		if s.exited() {
			t.Fatalf("paddock exited (status %d) after %d of %d scan codes\n%s", s.code, len(scanCodes(t, s)), n, s.describe())
		}
		if time.Now().After(deadline) {
			t.Fatalf("the guest read %d of %d scan codes within %v\n%s", len(scanCodes(t, s)), n, runTimeout(), s.describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	return scanCodes(t, s)
}

// expectedSet1 is what display's own tables say events become, to compare with the hard-coded sequences.
func expectedSet1(t *testing.T, events []display.KeyEvent) []byte {
	t.Helper()
	var out []byte
	for _, e := range events {
		b, err := display.Set1(e.Key, e.Down)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

func hexBytes(b []byte) string {
	parts := make([]string, len(b))
	for i, v := range b {
		parts[i] = fmt.Sprintf("%02x", v)
	}
	return strings.Join(parts, " ")
}

// sameBytes fails with the first differing position and the bytes around it.
func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	n := min(len(got), len(want))
	i := 0
	for i < n && got[i] == want[i] {
		i++
	}
	if i == len(got) && i == len(want) {
		return
	}
	lo := max(0, i-4)
	t.Errorf("%s: differs at byte %d of %d (got %d bytes): got ...%s..., want ...%s...\ngot:  %s\nwant: %s",
		what, i, len(want), len(got), hexBytes(got[lo:min(len(got), i+6)]), hexBytes(want[lo:min(len(want), i+6)]),
		hexBytes(got), hexBytes(want))
}

// Well-known PS/2 set-1 sequences, written out by hand from the scan code tables rather than computed, so the
// test does not only check display's tables against themselves.
var (
	helloWorldSet1 = []byte{
		0x2a, 0x23, 0xa3, 0xaa, // H (with left shift)
		0x12, 0x92, // e
		0x26, 0xa6, 0x26, 0xa6, // l l
		0x18, 0x98, // o
		0x33, 0xb3, // ,
		0x39, 0xb9, // space
		0x2a, 0x11, 0x91, 0xaa, // W
		0x18, 0x98, // o
		0x13, 0x93, // r
		0x26, 0xa6, // l
		0x20, 0xa0, // d
		0x2a, 0x02, 0x82, 0xaa, // ! (shift 1)
	}
	namedKeys     = []string{"enter", "up", "down", "left", "right", "f1", "f12", "esc", "ctrl+alt+delete"}
	namedKeysSet1 = []byte{
		0x1c, 0x9c, // enter
		0xe0, 0x48, 0xe0, 0xc8, // up
		0xe0, 0x50, 0xe0, 0xd0, // down
		0xe0, 0x4b, 0xe0, 0xcb, // left
		0xe0, 0x4d, 0xe0, 0xcd, // right
		0x3b, 0xbb, // f1
		0x58, 0xd8, // f12
		0x01, 0x81, // esc
		0x1d, 0x38, 0xe0, 0x53, // ctrl, alt, delete down
		0xe0, 0xd3, 0xb8, 0x9d, // delete, alt, ctrl up, in reverse
	}
)

// `paddock send-keys` reaches a guest that drives the i8042 as a PC kernel does, as the exact scan code set 1
// bytes, makes and breaks, in order, each read in the keyboard's interrupt handler.
func TestSendKeysScanCodes(t *testing.T) {
	// First, display's own tables must agree with the hand-written sequences.
	textEvents, err := display.TextEvents("Hello, World!")
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "display.TextEvents(\"Hello, World!\")", expectedSet1(t, textEvents), helloWorldSet1)
	var comboEvents []display.KeyEvent
	for _, name := range namedKeys {
		keys, err := display.ParseCombo(name)
		if err != nil {
			t.Fatal(err)
		}
		comboEvents = append(comboEvents, display.ComboEvents(keys)...)
	}
	sameBytes(t, "display.ComboEvents("+strings.Join(namedKeys, " ")+")", expectedSet1(t, comboEvents), namedKeysSet1)

	requireKVM(t)
	env := newEnv(t)
	name := vmName()
	s := start(t, env, "run", "--kernel", buildGuest(t, "kbdecho"), "--serial", "stdio", "--name", name)
	s.waitFor("KBD-READY")
	r := result{stdout: s.stdout.String()}
	r.expectLine(t, "I8042 CTR 65") // keyboard interrupt, system flag, mouse port off, translation: as a BIOS leaves it
	r.expectLine(t, "KBD-ACK fa")
	if got := scanCodes(t, s); len(got) != 0 {
		t.Fatalf("the guest read %s before anything was typed\n%s", hexBytes(got), s.describe())
	}

	paddock(t, env, "send-keys", name, "--text", "Hello, World!").expectExit(t, 0)
	got := waitScanCodes(t, s, len(helloWorldSet1))
	sameBytes(t, "send-keys --text \"Hello, World!\"", got, helloWorldSet1)

	paddock(t, env, append([]string{"send-keys", name}, namedKeys...)...).expectExit(t, 0)
	want := append(append([]byte{}, helloWorldSet1...), namedKeysSet1...)
	got = waitScanCodes(t, s, len(want))
	sameBytes(t, "send-keys "+strings.Join(namedKeys, " "), got, want)

	// Ctrl+Alt+Delete is only keys to the guest: the VM keeps running.
	if s.exited() {
		t.Fatalf("the VM ended after ctrl+alt+delete\n%s", s.describe())
	}
	paddock(t, env, "stop", "--force", name).expectExit(t, 0)
	s.wait()
	if goPanic.MatchString(s.stderr.String()) {
		t.Fatalf("a Go panic\n%s", s.describe())
	}
}

// Text longer than the keyboard's buffer waits for the guest to read, and arrives whole and in order.
func TestSendKeysLongText(t *testing.T) {
	requireKVM(t)
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 12)
	events, err := display.TextEvents(text)
	if err != nil {
		t.Fatal(err)
	}
	want := expectedSet1(t, events)
	if len(want) <= 1024 {
		t.Fatalf("the text makes only %d scan code bytes: too few to fill the keyboard's buffer", len(want))
	}
	env := newEnv(t)
	name := vmName()
	s := start(t, env, "run", "--kernel", buildGuest(t, "kbdecho"), "--serial", "stdio", "--name", name)
	s.waitFor("KBD-READY")
	began := time.Now()
	paddock(t, env, "send-keys", name, "--text", text).expectExit(t, 0)
	got := waitScanCodes(t, s, len(want))
	t.Logf("%d scan code bytes read by the guest in %v", len(got), time.Since(began).Round(10*time.Millisecond))
	sameBytes(t, "a long --text", got, want)
	paddock(t, env, "stop", "--force", name).expectExit(t, 0)
	s.wait()
}

// Keys for a VM that does not exist, and key names that do not exist, fail with one clear line.
func TestSendKeysBadInput(t *testing.T) {
	env := newEnv(t)
	paddock(t, env, "send-keys", "no-such-vm", "enter").expectCleanFailure(t, "no-such-vm")

	requireKVM(t)
	name := vmName()
	s := start(t, env, "run", "--kernel", buildGuest(t, "kbdecho"), "--serial", "stdio", "--name", name)
	s.waitFor("KBD-READY")
	paddock(t, env, "send-keys", name, "ctrl+nosuchkey").expectCleanFailure(t, "nosuchkey")
	paddock(t, env, "send-keys", name, "--text", "naïve").expectCleanFailure(t, "ï")
	time.Sleep(300 * time.Millisecond)
	if got := scanCodes(t, s); len(got) != 0 {
		t.Errorf("rejected input still typed %s\n%s", hexBytes(got), s.describe())
	}
	paddock(t, env, "stop", "--force", name).expectExit(t, 0)
	s.wait()
}

// A guest that never reads its keyboard cannot make send-keys hang: once the keyboard's buffer is full the
// command fails within its bounded wait, says why, and the VM runs on.
func TestSendKeysToGuestNotReading(t *testing.T) {
	requireKVM(t)
	env := newEnv(t)
	name := vmName()
	// fbpattern draws, then halts with interrupts off: it never touches port 0x60.
	s := start(t, env, "run", "--kernel", buildGuest(t, "fbpattern"), "--serial", "stdio", "--name", name,
		"--resolution", "640x480")
	s.waitFor("DRAWN")
	began := time.Now()
	r := paddock(t, env, "send-keys", name, "--text", strings.Repeat("abcdefghij", 60))
	took := time.Since(began)
	r.expectCleanFailure(t, "not reading")
	if took > 30*time.Second {
		t.Errorf("send-keys took %v to give up", took)
	}
	t.Logf("send-keys gave up after %v", took.Round(100*time.Millisecond))
	st := paddock(t, env, "status", name)
	st.expectExit(t, 0)
	if m := statusField("state").FindStringSubmatch(st.stdout); m == nil || m[1] != "running" {
		t.Errorf("after the failed send-keys the VM is %v, want running\n%s", m, st.describe())
	}
	paddock(t, env, "stop", "--force", name).expectExit(t, 0)
	s.wait()
}
