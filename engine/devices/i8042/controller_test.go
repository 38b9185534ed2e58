package i8042

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"

	"paddock/engine/bus"
	"paddock/engine/irq/irqtest"
)

// Linux's i8042 definitions (drivers/input/serio/i8042.h).
const (
	strOBF     = 0x01
	strIBF     = 0x02
	strKeylock = 0x10
	strAuxData = 0x20

	cmdCtlRCTR  = 0x0120
	cmdCtlWCTR  = 0x1060
	cmdCtlTest  = 0x01aa
	cmdAuxLoop  = 0x11d3
	cmdAuxTest  = 0x01a9
	cmdAuxDis   = 0x00a7
	cmdAuxEn    = 0x00a8
	cmdAuxSend  = 0x10d4
	cmdKbdTest  = 0x01ab
	cmdCtlRPort = 0x01d0
)

var (
	errTimeout = errors.New("timeout")
	quiet      = slog.New(slog.NewTextHandler(io.Discard, nil))
)

// machine wires a controller onto a port bus the way the VMM does, and drives it like Linux's i8042 driver.
type machine struct {
	t        *testing.T
	ports    bus.Bus
	c        *Controller
	kbd, aux *irqtest.Line
	resets   int
}

func newMachine(t *testing.T) *machine {
	m := &machine{t: t, kbd: &irqtest.Line{}, aux: &irqtest.Line{}}
	m.c = New(Config{KeyboardIRQ: m.kbd, MouseIRQ: m.aux, ResetCPU: func() { m.resets++ }, Logger: quiet})
	if err := m.ports.Register(0x60, 1, m.c.DataPort()); err != nil {
		t.Fatal(err)
	}
	if err := m.ports.Register(0x64, 1, m.c.CommandPort()); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *machine) inb(port uint64) byte {
	var b [1]byte
	m.ports.Read(port, b[:])
	return b[0]
}

func (m *machine) outb(port uint64, v byte) { m.ports.Write(port, []byte{v}) }

func (m *machine) status() byte { return m.inb(0x64) }

func (m *machine) waitWrite() error {
	for i := 0; i < 10000; i++ {
		if m.status()&strIBF == 0 {
			return nil
		}
	}
	return errTimeout
}

func (m *machine) waitRead() error {
	for i := 0; i < 10000; i++ {
		if m.status()&strOBF != 0 {
			return nil
		}
	}
	return errTimeout
}

// command is __i8042_command(): the command, its parameters to port 0x60, its replies from port 0x60.
func (m *machine) command(param []byte, command int) error {
	if err := m.waitWrite(); err != nil {
		return err
	}
	m.outb(0x64, byte(command))
	for i := 0; i < (command>>12)&0xf; i++ {
		if err := m.waitWrite(); err != nil {
			return err
		}
		m.outb(0x60, param[i])
	}
	for i := 0; i < (command>>8)&0xf; i++ {
		if err := m.waitRead(); err != nil {
			return err
		}
		if command == cmdAuxLoop && m.status()&strAuxData == 0 {
			return errors.New("auxerr")
		}
		param[i] = m.inb(0x60)
	}
	return nil
}

// flush is i8042_flush(): it fails if the buffer never empties (no controller reads 0xff).
func (m *machine) flush() error {
	for count := 0; m.status()&strOBF != 0; count++ {
		if count >= 16 {
			return errors.New("flush: controller never empties")
		}
		m.inb(0x60)
	}
	return nil
}

func (m *machine) ctr() byte {
	var p [1]byte
	if err := m.command(p[:], cmdCtlRCTR); err != nil {
		m.t.Fatalf("read CTR: %v", err)
	}
	return p[0]
}

func (m *machine) writeCTR(v byte) {
	if err := m.command([]byte{v}, cmdCtlWCTR); err != nil {
		m.t.Fatalf("write CTR: %v", err)
	}
}

// ps2 sends a byte to a device (keyboard, or mouse through 0xd4) and collects n reply bytes the way the
// interrupt handler does: one byte per interrupt.
func (m *machine) ps2(aux bool, v byte, n int) []byte {
	line := m.kbd
	if aux {
		line = m.aux
		m.outb(0x64, 0xd4)
	}
	before := line.Rises()
	m.outb(0x60, v)
	var got []byte
	for len(got) < n {
		st := m.status()
		if st&strOBF == 0 {
			m.t.Fatalf("device %#x: %d of %d reply bytes, then nothing", v, len(got), n)
		}
		if (st&strAuxData != 0) != aux {
			m.t.Fatalf("device %#x: reply from the wrong port (status %#x)", v, st)
		}
		got = append(got, m.inb(0x60))
	}
	if rises := line.Rises() - before; rises != n {
		m.t.Errorf("device %#x: %d interrupts for %d reply bytes", v, rises, n)
	}
	return got
}

func TestLinuxProbeSequence(t *testing.T) {
	m := newMachine(t)
	// i8042_controller_check
	if err := m.flush(); err != nil {
		t.Fatal(err)
	}
	// i8042_controller_selftest
	param := []byte{0}
	if err := m.command(param, cmdCtlTest); err != nil || param[0] != 0x55 {
		t.Fatalf("self test: %v, %#x; want 0x55", err, param[0])
	}
	// i8042_controller_init: two equal CTR reads, keyboard disabled, translation left on.
	ctr := m.ctr()
	if again := m.ctr(); again != ctr {
		t.Fatalf("unstable CTR: %#x then %#x", ctr, again)
	}
	if ctr&ctrXlate == 0 {
		t.Fatalf("CTR %#x: translation off, Linux would drive the keyboard in set 2", ctr)
	}
	if m.status()&strKeylock == 0 {
		t.Error("status says the keylock is active")
	}
	ctr = (ctr | ctrKbdDis) &^ ctrKbdInt
	m.writeCTR(ctr)
	if got := m.ctr(); got != ctr {
		t.Fatalf("CTR reads %#x after writing %#x", got, ctr)
	}
	if err := m.flush(); err != nil {
		t.Fatal(err)
	}
	// i8042_check_aux: loopback test, then disable/enable the port and watch the CTR follow.
	param[0] = 0x5a
	if err := m.command(param, cmdAuxLoop); err != nil || param[0] != 0x5a {
		t.Fatalf("AUX loop: %v, %#x", err, param[0])
	}
	if err := m.command(param, cmdAuxDis); err != nil || m.ctr()&ctrAuxDis == 0 {
		t.Fatalf("0xa7 did not disable the aux port: %v, CTR %#x", err, m.ctr())
	}
	if err := m.command(param, cmdAuxEn); err != nil || m.ctr()&ctrAuxDis != 0 {
		t.Fatalf("0xa8 did not enable the aux port: %v, CTR %#x", err, m.ctr())
	}
	// The AUX IRQ delivery test: with AUXINT on, 0xd3 0xa5 must raise IRQ 12 with AUXDATA set.
	ctr = (m.ctr() &^ ctrAuxDis) | ctrAuxInt
	m.writeCTR(ctr)
	m.outb(0x64, 0xd3)
	m.outb(0x60, 0xa5)
	if !m.aux.High() || m.kbd.High() {
		t.Fatalf("after 0xd3: IRQ12 %v, IRQ1 %v; want IRQ12 only", m.aux.High(), m.kbd.High())
	}
	if st := m.status(); st&(strOBF|strAuxData) != strOBF|strAuxData {
		t.Fatalf("status %#x after 0xd3, want OBF|AUXDATA", st)
	}
	if v := m.inb(0x60); v != 0xa5 || m.aux.High() {
		t.Fatalf("read %#x (IRQ12 still %v), want 0xa5 and the line dropped", v, m.aux.High())
	}
	// psmouse probe through 0xd4.
	if got := m.ps2(true, 0xf2, 2); !bytes.Equal(got, []byte{0xfa, 0x00}) {
		t.Errorf("mouse GETID = % x", got)
	}
	if got := m.ps2(true, 0xff, 3); !bytes.Equal(got, []byte{0xfa, 0xaa, 0x00}) {
		t.Errorf("mouse reset = % x", got)
	}
	for i := 0; i < 4; i++ { // Synaptics knock: 4x set resolution 0, then status
		m.ps2(true, 0xe8, 1)
		m.ps2(true, 0x00, 1)
	}
	if got := m.ps2(true, 0xe9, 4); got[0] != 0xfa || got[2] == 0x47 {
		t.Errorf("mouse status = % x: must ACK and not claim to be a Synaptics pad", got)
	}
	for _, rate := range []byte{200, 100, 80} { // IntelliMouse knock
		m.ps2(true, 0xf3, 1)
		m.ps2(true, rate, 1)
	}
	if got := m.ps2(true, 0xf2, 2); !bytes.Equal(got, []byte{0xfa, 0x00}) {
		t.Errorf("mouse GETID after the IntelliMouse knock = % x, want a plain mouse", got)
	}
	if got := m.ps2(true, 0xf4, 1); got[0] != 0xfa {
		t.Errorf("mouse enable = % x", got)
	}
	// Keyboard port: enable it with its interrupt, then atkbd's probe.
	m.writeCTR((m.ctr() &^ ctrKbdDis) | ctrKbdInt)
	if got := m.ps2(false, 0xf5, 1); got[0] != 0xfa {
		t.Errorf("kbd deactivate = % x", got)
	}
	if got := m.ps2(false, 0xf2, 3); !bytes.Equal(got, []byte{0xfa, 0xab, 0x41}) {
		t.Errorf("kbd GETID = % x, want fa ab 41 (translated)", got)
	}
	if got := m.ps2(false, 0xed, 1); got[0] != 0xfa {
		t.Errorf("kbd SETLEDS = % x", got)
	}
	if got := m.ps2(false, 0x00, 1); got[0] != 0xfa {
		t.Errorf("kbd SETLEDS param = % x", got)
	}
	m.ps2(false, 0xf3, 1)
	if got := m.ps2(false, 0x00, 1); got[0] != 0xfa {
		t.Errorf("kbd SETREP param = % x", got)
	}
	if got := m.ps2(false, 0xee, 1); got[0] != 0xee {
		t.Errorf("kbd echo = % x", got)
	}
	if got := m.ps2(false, 0x42, 1); got[0] != 0xfe {
		t.Errorf("unknown kbd command answered % x, want resend", got)
	}
	if got := m.ps2(false, 0xff, 2); !bytes.Equal(got, []byte{0xfa, 0xaa}) {
		t.Errorf("kbd reset = % x", got)
	}
	m.ps2(false, 0xf0, 1)
	if got := m.ps2(false, 0x00, 2); !bytes.Equal(got, []byte{0xfa, 0x41}) {
		t.Errorf("get scan code set = % x, want fa 41 (set 2, translated)", got)
	}
	if got := m.ps2(false, 0xf4, 1); got[0] != 0xfa {
		t.Errorf("kbd enable = % x", got)
	}
}

func TestControllerTests(t *testing.T) {
	m := newMachine(t)
	for _, tc := range []struct {
		cmd  int
		want byte
	}{{cmdCtlTest, 0x55}, {cmdAuxTest, 0x00}, {cmdKbdTest, 0x00}} {
		p := []byte{0xcc}
		if err := m.command(p, tc.cmd); err != nil || p[0] != tc.want {
			t.Errorf("command %#x: %v, %#x; want %#x", tc.cmd&0xff, err, p[0], tc.want)
		}
	}
	p := []byte{0}
	if err := m.command(p, cmdCtlRPort); err != nil || p[0]&0x03 != 0x03 {
		t.Errorf("output port %#x: want reset line high and A20 on", p[0])
	}
}

func TestKeyboardInjectionRaisesIRQ1(t *testing.T) {
	m := newMachine(t)
	// The initial command byte has the keyboard interrupt on and translation on.
	keys := []byte{0x1e, 0x9e, 0xe0, 0x48, 0xe0, 0xc8} // a down, a up, up-arrow down, up-arrow up
	if n := m.c.KeyboardInput(keys); n != len(keys) {
		t.Fatalf("accepted %d of %d bytes", n, len(keys))
	}
	var got []byte
	for i := 0; i < len(keys); i++ {
		if !m.kbd.High() {
			t.Fatalf("IRQ1 low with %d bytes undelivered", len(keys)-i)
		}
		got = append(got, m.inb(0x60))
	}
	if !bytes.Equal(got, keys) {
		t.Errorf("guest read % x, want the set 1 bytes % x", got, keys)
	}
	if m.kbd.Rises() != len(keys) {
		t.Errorf("%d interrupts for %d bytes", m.kbd.Rises(), len(keys))
	}
	if m.kbd.High() || m.status()&strOBF != 0 {
		t.Error("IRQ1 or OBF still set after the queue drained")
	}
}

func TestUntranslatedKeyboardSpeaksSet2(t *testing.T) {
	m := newMachine(t)
	m.writeCTR(InitialCommandByte &^ ctrXlate)
	m.c.KeyboardInput([]byte{0x1e, 0x9e, 0xe0, 0x48, 0xe0, 0xc8})
	var got []byte
	for m.status()&strOBF != 0 {
		got = append(got, m.inb(0x60))
	}
	want := []byte{0x1c, 0xf0, 0x1c, 0xe0, 0x75, 0xe0, 0xf0, 0x75}
	if !bytes.Equal(got, want) {
		t.Errorf("untranslated bytes % x, want % x", got, want)
	}
	if got := m.ps2(false, 0xf2, 3); !bytes.Equal(got, []byte{0xfa, 0xab, 0x83}) {
		t.Errorf("untranslated GETID = % x, want fa ab 83", got)
	}
}

func TestKeyboardGating(t *testing.T) {
	m := newMachine(t)
	m.writeCTR(InitialCommandByte &^ ctrKbdInt)
	m.c.KeyboardInput([]byte{0x1e})
	if m.kbd.High() {
		t.Error("IRQ1 raised with KBDINT clear")
	}
	if m.inb(0x60) != 0x1e {
		t.Error("polled keyboard byte lost")
	}
	m.writeCTR(InitialCommandByte | ctrKbdDis)
	m.c.KeyboardInput([]byte{0x1f})
	if m.status()&strOBF != 0 {
		t.Error("keyboard byte delivered while the keyboard interface is disabled")
	}
	m.outb(0x64, 0xae)
	if m.status()&strOBF == 0 || !m.kbd.High() || m.inb(0x60) != 0x1f {
		t.Error("held byte not delivered when the interface was enabled")
	}
	m.ps2(false, 0xf5, 1) // stop scanning
	if n := m.c.KeyboardInput([]byte{0x20}); n != 0 || m.status()&strOBF != 0 {
		t.Errorf("keyboard that is not scanning accepted %d bytes", n)
	}
}

func TestKeyboardQueueBounded(t *testing.T) {
	m := newMachine(t)
	big := make([]byte, 10*kbdQueueLen)
	for i := range big {
		big[i] = 0x1e
	}
	n := m.c.KeyboardInput(big)
	if n >= len(big) || n < kbdQueueLen-1 {
		t.Errorf("accepted %d of %d bytes, want about %d", n, len(big), kbdQueueLen)
	}
}

func TestResetPulse(t *testing.T) {
	m := newMachine(t)
	m.outb(0x64, 0xff) // pulses nothing (bit 0 set)
	m.outb(0x64, 0xd1)
	m.outb(0x60, 0x03) // reset line stays high
	if m.resets != 0 {
		t.Fatalf("reset without a pulse on bit 0 (%d)", m.resets)
	}
	m.outb(0x64, 0xfe) // Linux reboot=k
	if m.resets != 1 {
		t.Fatalf("0xfe: %d resets, want 1", m.resets)
	}
	m.outb(0x64, 0xd1)
	m.outb(0x60, 0x02) // output port bit 0 clear
	if m.resets != 2 {
		t.Fatalf("output port write with bit 0 clear: %d resets, want 2", m.resets)
	}
}

func TestNoControllerReadsLikeFloatingBus(t *testing.T) {
	// Guards the driver itself: with nothing at 0x64, flush must fail as Linux's does.
	m := &machine{t: t}
	if err := m.flush(); err == nil {
		t.Fatal("flush succeeded on an empty bus")
	}
}

// FuzzAccesses feeds random accesses of every width to both ports and random keystrokes.
func FuzzAccesses(f *testing.F) {
	f.Add([]byte{0x01, 0xaa, 0x00, 0x00, 0x01, 0x60, 0x00, 0x47, 0x01, 0xd4, 0x00, 0xff})
	f.Add([]byte{0x00, 0xf2, 0x02, 0x1e, 0x01, 0xfe, 0x01, 0xd1, 0x00, 0x00, 0x03, 0x00})
	f.Add([]byte{0x01, 0xd3, 0x00, 0xa5, 0x11, 0x20, 0x30, 0x00, 0x00, 0xf0, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, ops []byte) {
		c := New(Config{KeyboardIRQ: &irqtest.Line{}, MouseIRQ: &irqtest.Line{}, ResetCPU: func() {}, Logger: quiet})
		data, cmd := c.DataPort(), c.CommandPort()
		for len(ops) >= 2 {
			op, v := ops[0], ops[1]
			ops = ops[2:]
			buf := bytes.Repeat([]byte{v}, []int{1, 2, 4, 8}[op>>4&3])
			switch op & 7 {
			case 0:
				data.Write(0, buf)
			case 1:
				cmd.Write(0, buf)
			case 2:
				c.KeyboardInput(buf)
			case 3:
				data.Read(0, buf)
			case 4:
				cmd.Read(0, buf)
			case 5:
				c.Reset()
			default:
				data.Write(0, []byte{0xd4})
			}
		}
	})
}
