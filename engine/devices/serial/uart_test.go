package serial

import (
	"bytes"
	"io"
	"sync"
	"testing"
	"time"

	"paddock/engine/irq/irqtest"
)

// safeBuffer is a bytes.Buffer the output goroutine and the test can share.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func in(u *UART, reg uint64) byte {
	var b [1]byte
	u.Read(reg, b[:])
	return b[0]
}

func out(u *UART, reg uint64, v byte) { u.Write(reg, []byte{v}) }

// autoconfig follows drivers/tty/serial/8250/8250_port.c autoconfig() and autoconfig_16550a() on a PC COM port
// (CONFIG_SERIAL_8250_16550A_VARIANTS=y), and returns the port type Linux would settle on.
func autoconfig(u *UART) string {
	const lcrConfModeB = 0xbf
	scratch := in(u, regIER)
	out(u, regIER, 0)
	scratch2 := in(u, regIER) & 0x0f
	out(u, regIER, 0x0f)
	scratch3 := in(u, regIER) & 0x0f
	out(u, regIER, scratch)
	if scratch2 != 0 || scratch3 != 0x0f {
		return "IER test failed"
	}
	saveMCR := in(u, regMCR)
	saveLCR := in(u, regLCR)
	out(u, regMCR, mcrLoop|mcrOUT2|mcrRTS)
	status1 := in(u, regMSR) & 0xf0
	out(u, regMCR, saveMCR)
	if status1 != msrDCD|msrCTS {
		return "LOOP test failed"
	}
	out(u, regLCR, lcrConfModeB)
	out(u, regIIR, 0) // EFR
	out(u, regLCR, 0)
	out(u, regIIR, fcrEnable)
	typ := ""
	switch in(u, regIIR) & 0xc0 {
	case 0x00:
		typ = "8250"
	case 0x40:
		typ = "16550"
	case 0xc0:
		typ = autoconfig16550A(u)
	default:
		typ = "unknown"
	}
	out(u, regLCR, saveLCR)
	out(u, regMCR, saveMCR)
	out(u, regIIR, fcrEnable)
	out(u, regIIR, fcrEnable|fcrClearRX|0x04)
	out(u, regIIR, 0)
	in(u, regData)
	out(u, regIER, 0)
	return typ
}

func autoconfig16550A(u *UART) string {
	const (
		lcrConfModeA = 0x80
		lcrConfModeB = 0xbf
		fcr64Byte    = 0x20
		iir64Byte    = 0x20
		ierUUE       = 0x40
	)
	out(u, regLCR, lcrConfModeA)
	if in(u, regIIR) == 0 { // EFR with DLAB set
		return "16650 or FSL64"
	}
	out(u, regLCR, lcrConfModeB)
	if in(u, regIIR) == 0 {
		return "EFRv2"
	}
	out(u, regLCR, 0)
	status1 := in(u, regMCR)
	out(u, regLCR, 0xe0)
	status2 := in(u, regIIR) // EXCR1
	if (status2^status1)&mcrLoop == 0 {
		out(u, regLCR, 0)
		out(u, regMCR, status1^mcrLoop)
		out(u, regLCR, 0xe0)
		status2 = in(u, regIIR)
		out(u, regLCR, 0)
		out(u, regMCR, status1)
		if (status2^status1)&mcrLoop != 0 {
			return "NS16550A"
		}
	}
	out(u, regLCR, 0)
	out(u, regIIR, fcrEnable|fcr64Byte)
	s1 := in(u, regIIR) & (iir64Byte | 0xc0)
	out(u, regIIR, fcrEnable)
	out(u, regLCR, lcrConfModeA)
	out(u, regIIR, fcrEnable|fcr64Byte)
	s2 := in(u, regIIR) & (iir64Byte | 0xc0)
	out(u, regIIR, fcrEnable)
	out(u, regLCR, 0)
	if s1 == 0xc0 && s2 == 0xc0|iir64Byte {
		return "16750"
	}
	iersave := in(u, regIER)
	out(u, regIER, iersave&^ierUUE)
	if in(u, regIER)&ierUUE == 0 {
		out(u, regIER, iersave|ierUUE)
		if in(u, regIER)&ierUUE != 0 {
			return "XScale"
		}
	}
	out(u, regIER, iersave)
	if sizeFIFO(u) == 64 {
		return "U6_16550A"
	}
	return "16550A"
}

// sizeFIFO is Linux's size_fifo(): fill the FIFO through loopback and count what comes back.
func sizeFIFO(u *UART) int {
	oldLCR := in(u, regLCR)
	out(u, regLCR, 0)
	oldFCR := in(u, regIIR)
	oldMCR := in(u, regMCR)
	out(u, regIIR, fcrEnable|fcrClearRX|0x04)
	out(u, regMCR, mcrLoop)
	out(u, regLCR, lcrDLAB)
	oldDLL, oldDLM := in(u, regData), in(u, regIER)
	out(u, regData, 1)
	out(u, regIER, 0)
	out(u, regLCR, 0x03)
	for i := 0; i < 256; i++ {
		out(u, regData, byte(i))
	}
	count := 0
	for ; in(u, regLSR)&lsrDR != 0 && count < 256; count++ {
		in(u, regData)
	}
	out(u, regIIR, oldFCR)
	out(u, regMCR, oldMCR)
	out(u, regLCR, lcrDLAB)
	out(u, regData, oldDLL)
	out(u, regIER, oldDLM)
	out(u, regLCR, oldLCR)
	return count
}

func TestLinuxAutoconfigDetects16550A(t *testing.T) {
	var output safeBuffer
	u := New(Config{IRQ: &irqtest.Line{}, Output: &output})
	if got := autoconfig(u); got != "16550A" {
		t.Fatalf("Linux autoconfig detects %q, want 16550A", got)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if output.String() != "" {
		t.Errorf("probe leaked %q to the output; loopback bytes must stay inside the chip", output.String())
	}
}

func TestSizeFIFOIs16(t *testing.T) {
	u := New(Config{})
	out(u, regIIR, fcrEnable)
	if n := sizeFIFO(u); n != 16 {
		t.Fatalf("size_fifo counts %d bytes, want 16", n)
	}
}

func TestLoopbackEchoesAndReflectsMCR(t *testing.T) {
	var output safeBuffer
	u := New(Config{Output: &output})
	out(u, regIIR, fcrEnable)
	out(u, regMCR, mcrLoop|mcrDTR|mcrOUT1)
	if got := in(u, regMSR) & 0xf0; got != msrDSR|msrRI {
		t.Errorf("MSR in loopback with DTR|OUT1 = %#x, want DSR|RI", got)
	}
	out(u, regData, 'x')
	if in(u, regLSR)&lsrDR == 0 {
		t.Fatal("loopback: transmitted byte not received")
	}
	if got := in(u, regData); got != 'x' {
		t.Errorf("loopback received %q, want 'x'", got)
	}
	out(u, regMCR, mcrOUT2)
	if got := in(u, regMSR) & 0xf0; got != msrDCD|msrDSR|msrCTS {
		t.Errorf("MSR out of loopback = %#x, want DCD|DSR|CTS", got)
	}
	out(u, regData, 'y')
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if output.String() != "y" {
		t.Errorf("output = %q, want only the byte sent outside loopback", output.String())
	}
}

func TestInterruptPriority(t *testing.T) {
	line := &irqtest.Line{}
	u := New(Config{IRQ: line})
	out(u, regIIR, fcrEnable) // trigger level 1
	// A trip through loopback changes every modem line, leaving delta bits (a modem status interrupt).
	out(u, regMCR, mcrLoop)
	out(u, regMCR, mcrOUT2)
	// Also pending: an overrun and received data; THR is empty.
	u.Input(make([]byte, fifoSize+DefaultInputQueue+1))
	out(u, regIER, ierRDI|ierTHRI|ierRLSI|ierMSI)
	if !line.High() {
		t.Fatal("IRQ low with four interrupts pending")
	}
	steps := []struct {
		want byte
		ack  func()
	}{
		{iirRLSI, func() { in(u, regLSR) }},
		{iirRDI, func() {
			for in(u, regLSR)&lsrDR != 0 {
				in(u, regData)
			}
		}},
		{iirTHRI, func() {}}, // reading IIR acknowledged it
		{iirMSI, func() { in(u, regMSR) }},
		{iirNoInt, func() {}},
	}
	for i, s := range steps {
		if got := in(u, regIIR) &^ iirFIFOs; got != s.want {
			t.Fatalf("step %d: IIR = %#x, want %#x", i, got, s.want)
		}
		s.ack()
	}
	if line.High() {
		t.Error("IRQ still high with nothing pending")
	}
}

func TestTHREInterruptRearmedByIERWrite(t *testing.T) {
	line := &irqtest.Line{}
	u := New(Config{IRQ: line})
	out(u, regMCR, mcrOUT2)
	// Linux's serial8250_do_startup THRE test: both reads must see THRI, or it flags UART_BUG_THRE.
	out(u, regIER, ierTHRI)
	iir1 := in(u, regIIR)
	out(u, regIER, 0)
	out(u, regIER, ierTHRI)
	iir2 := in(u, regIIR)
	out(u, regIER, 0)
	if iir1&0x0f != iirTHRI || iir2&0x0f != iirTHRI {
		t.Fatalf("THRE test IIRs %#x, %#x; want THRI both times", iir1, iir2)
	}
	out(u, regIER, ierTHRI)
	if !line.High() {
		t.Fatal("IRQ low after enabling THRI with THR empty")
	}
	in(u, regIIR)
	if line.High() {
		t.Fatal("IRQ high after IIR read acknowledged THRI")
	}
	out(u, regData, 'a')
	if !line.High() {
		t.Fatal("IRQ low after a THR write: the byte left at once, so THR is empty again")
	}
	out(u, regMCR, 0)
	if line.High() {
		t.Fatal("IRQ high with OUT2 clear")
	}
}

func TestInputRaisesIRQAndFillsFIFO(t *testing.T) {
	line := &irqtest.Line{}
	u := New(Config{IRQ: line})
	out(u, regIIR, fcrEnable|0x80) // trigger level 8
	out(u, regIER, ierRDI)
	u.Input([]byte("hi"))
	if line.High() {
		t.Fatal("IRQ raised with OUT2 clear")
	}
	out(u, regMCR, mcrOUT2)
	if !line.High() {
		t.Fatal("IRQ low with data waiting, RDI enabled and OUT2 set")
	}
	if got := in(u, regIIR); got != iirFIFOs|iirTimeout {
		t.Errorf("IIR below trigger level = %#x, want character timeout %#x", got, iirFIFOs|iirTimeout)
	}
	long := bytes.Repeat([]byte("0123456789"), 10)
	u.Input(long)
	if got := in(u, regIIR); got != iirFIFOs|iirRDI {
		t.Errorf("IIR above trigger level = %#x, want %#x", got, iirFIFOs|iirRDI)
	}
	var got []byte
	for in(u, regLSR)&lsrDR != 0 {
		got = append(got, in(u, regData))
	}
	if want := append([]byte("hi"), long...); !bytes.Equal(got, want) {
		t.Errorf("received %q, want %q", got, want)
	}
	if line.High() {
		t.Error("IRQ high after the guest drained the input")
	}
}

func TestInputOverrun(t *testing.T) {
	u := New(Config{InputQueue: 4})
	if n := u.Input([]byte("abcdefgh")); n != 5 {
		t.Fatalf("accepted %d bytes, want 5 (1 in the FIFO, which is off, and 4 queued)", n)
	}
	if lsr := in(u, regLSR); lsr&lsrOE == 0 {
		t.Errorf("LSR = %#x, want overrun", lsr)
	}
	if lsr := in(u, regLSR); lsr&lsrOE != 0 {
		t.Errorf("overrun not cleared by reading LSR: %#x", lsr)
	}
}

// blockingWriter stalls until released, like a terminal nobody reads.
type blockingWriter struct{ release chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

func TestStalledOutputNeverBlocksTheGuest(t *testing.T) {
	w := blockingWriter{release: make(chan struct{})}
	u := New(Config{Output: w, OutputBuffer: 1024})
	start := time.Now()
	for i := 0; i < 100_000; i++ {
		out(u, regData, 'z')
		if in(u, regLSR)&(lsrTHRE|lsrTEMT) != lsrTHRE|lsrTEMT {
			t.Fatal("transmitter not empty after a write")
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("100000 THR writes took %v with a stalled writer", d)
	}
	if u.Dropped() == 0 {
		t.Error("no bytes reported dropped while the writer was stalled")
	}
	close(w.release)
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOutputReachesWriter(t *testing.T) {
	var output safeBuffer
	u := New(Config{Output: &output})
	for _, c := range []byte("Linux version 6.1\n") {
		for in(u, regLSR)&lsrTHRE == 0 {
		}
		out(u, regData, c)
	}
	// Divisor latch writes must not reach the output.
	out(u, regLCR, lcrDLAB|0x03)
	out(u, regData, 0x01)
	out(u, regIER, 0x00)
	out(u, regLCR, 0x03)
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if got := output.String(); got != "Linux version 6.1\n" {
		t.Errorf("output = %q", got)
	}
}

func TestDivisorLatchAndScratch(t *testing.T) {
	u := New(Config{})
	out(u, regLCR, lcrDLAB)
	out(u, regData, 0x34)
	out(u, regIER, 0x12)
	out(u, regLCR, 0x03)
	out(u, regSCR, 0x5a)
	if in(u, regIER) != 0 || in(u, regSCR) != 0x5a {
		t.Error("divisor writes leaked into IER, or scratch lost")
	}
	out(u, regLCR, lcrDLAB|0x03)
	if dll, dlm := in(u, regData), in(u, regIER); dll != 0x34 || dlm != 0x12 {
		t.Errorf("divisor = %#x:%#x, want 0x12:0x34", dlm, dll)
	}
}

// FuzzAccesses feeds random port accesses of every width; the UART must never panic or hang.
func FuzzAccesses(f *testing.F) {
	f.Add([]byte{0x01, 0x04, 0x1f, 0x00, 0x00, 'a', 0x03, 0x02, 0xff, 0x80, 0x01, 0x00})
	f.Add([]byte{0x11, 0x02, 0x07, 0x13, 0x00, 0x00, 0x24, 0x05, 0x08, 0x33, 0x01})
	f.Add([]byte{0x41, 0x03, 0x80, 0x01, 0x00, 0xff, 0xff, 0x01, 0x01, 0x0f, 0x05, 0x01})
	f.Fuzz(func(t *testing.T, ops []byte) {
		u := New(Config{IRQ: &irqtest.Line{}, Output: io.Discard, InputQueue: 32})
		defer u.Close()
		for len(ops) >= 3 {
			op, off, v := ops[0], uint64(ops[1]%Size), ops[2]
			ops = ops[3:]
			width := []int{1, 2, 4, 8}[op>>4&3]
			if off+uint64(width) > Size {
				width = 1
			}
			data := bytes.Repeat([]byte{v}, width)
			switch op & 3 {
			case 0:
				u.Read(off, data)
			case 1:
				u.Write(off, data)
			case 2:
				u.Input(data)
			case 3:
				u.Reset()
			}
		}
	})
}
