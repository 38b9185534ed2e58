package rtc

import (
	"bytes"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"paddock/engine/irq/irqtest"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func cmosRead(r *RTC, idx byte) byte {
	r.Write(0, []byte{idx | 0x80}) // Linux sets the NMI-disable bit on some paths; it must not matter
	var b [1]byte
	r.Read(1, b[:])
	return b[0]
}

func cmosWrite(r *RTC, idx, v byte) {
	r.Write(0, []byte{idx})
	r.Write(1, []byte{v})
}

func bcd2bin(v byte) int { return int(v>>4)*10 + int(v&0x0f) }

// getTime follows Linux's mc146818_get_time(): wait for UIP to clear (bounded), read the fields twice-safe,
// convert from BCD unless register B says binary.
func getTime(t *testing.T, r *RTC) time.Time {
	t.Helper()
	for i := 0; cmosRead(r, regA)&aUIP != 0; i++ {
		if i > 1000 {
			t.Fatal("UIP stuck set")
		}
	}
	sec, min, hour := cmosRead(r, regSeconds), cmosRead(r, regMinutes), cmosRead(r, regHours)
	day, mon, year, cen := cmosRead(r, regDay), cmosRead(r, regMonth), cmosRead(r, regYear), cmosRead(r, RegCentury)
	b := cmosRead(r, regB)
	conv := func(v byte) int {
		if b&bBinary != 0 {
			return int(v)
		}
		return bcd2bin(v)
	}
	h := conv(hour &^ hourPM)
	if b&b24Hour == 0 {
		h %= 12
		if hour&hourPM != 0 {
			h += 12
		}
	}
	return time.Date(conv(cen)*100+conv(year), time.Month(conv(mon)), conv(day), h, conv(min), conv(sec), 0, time.UTC)
}

func TestReadsHostTimeInEveryFormat(t *testing.T) {
	clock := &fakeClock{t: time.Date(2031, 12, 31, 23, 59, 58, 5e8, time.UTC)}
	want := clock.t.Truncate(time.Second)
	for _, mode := range []byte{b24Hour, b24Hour | bBinary, 0, bBinary} {
		r := New(Config{Now: clock.Now, Logger: quiet})
		cmosWrite(r, regB, mode)
		if got := getTime(t, r); !got.Equal(want) {
			t.Errorf("register B %#x: read %v, want %v", mode, got, want)
		}
	}
	r := New(Config{Now: clock.Now, Logger: quiet})
	if got := cmosRead(r, regSeconds); got != 0x58 {
		t.Errorf("BCD seconds = %#x, want 0x58", got)
	}
	if got := cmosRead(r, RegCentury); got != 0x20 {
		t.Errorf("BCD century = %#x, want 0x20", got)
	}
	if got := cmosRead(r, regWeekday); got != 0x04 { // Wednesday; Sunday is 1
		t.Errorf("weekday = %#x, want 4", got)
	}
	cmosWrite(r, regB, 0) // 12-hour BCD: 23h is 11 PM
	if got := cmosRead(r, regHours); got != 0x91 {
		t.Errorf("12-hour BCD hour = %#x, want 0x91", got)
	}
	clock.set(clock.t.Add(3 * time.Second))
	cmosWrite(r, regB, b24Hour)
	if got := getTime(t, r); !got.Equal(want.Add(3 * time.Second)) {
		t.Errorf("the clock did not follow the host: %v", got)
	}
}

func TestUIPOnlyJustBeforeTheSecond(t *testing.T) {
	clock := &fakeClock{}
	r := New(Config{Now: clock.Now, Logger: quiet})
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at  time.Duration
		uip bool
	}{{0, false}, {500 * time.Millisecond, false}, {time.Second - 245*time.Microsecond, false},
		{time.Second - 100*time.Microsecond, true}, {time.Second, false}} {
		clock.set(base.Add(tc.at))
		if got := cmosRead(r, regA)&aUIP != 0; got != tc.uip {
			t.Errorf("at +%v: UIP %v, want %v", tc.at, got, tc.uip)
		}
	}
	clock.set(base.Add(time.Second - 100*time.Microsecond))
	cmosWrite(r, regB, b24Hour|bSET)
	if cmosRead(r, regA)&aUIP != 0 {
		t.Error("UIP set while updates are halted")
	}
	if got := cmosRead(r, regA) &^ aUIP; got != 0x26 {
		t.Errorf("register A = %#x, want 0x26", got)
	}
}

func TestRealClockUIPNeverStuck(t *testing.T) {
	r := New(Config{Logger: quiet})
	set := 0
	for i := 0; i < 20000; i++ {
		if cmosRead(r, regA)&aUIP != 0 {
			set++
			if set > 5000 {
				t.Fatal("UIP stayed set for 5000 consecutive reads")
			}
		} else {
			set = 0
		}
	}
}

func TestGuestSetsTime(t *testing.T) {
	clock := &fakeClock{t: time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)}
	r := New(Config{Now: clock.Now, Logger: quiet})
	// mc146818_set_time: SET, divider reset, fields in BCD, then restore B and A.
	b := cmosRead(r, regB)
	cmosWrite(r, regB, b|bSET)
	cmosWrite(r, regA, 0x70)
	for idx, v := range map[byte]byte{regYear: 0x99, regMonth: 0x12, regDay: 0x31, regHours: 0x23,
		regMinutes: 0x59, regSeconds: 0x50, RegCentury: 0x19} {
		cmosWrite(r, idx, v)
	}
	clock.set(clock.t.Add(5 * time.Second)) // a halted clock does not move
	if got := cmosRead(r, regSeconds); got != 0x50 {
		t.Errorf("seconds while SET = %#x, want 0x50", got)
	}
	cmosWrite(r, regB, b)
	cmosWrite(r, regA, 0x26)
	want := time.Date(1999, 12, 31, 23, 59, 50, 0, time.UTC)
	if got := getTime(t, r); !got.Equal(want) {
		t.Fatalf("after setting: %v, want %v", got, want)
	}
	clock.set(clock.t.Add(15 * time.Second))
	if got := getTime(t, r); !got.Equal(want.Add(15 * time.Second)) {
		t.Errorf("15 s later: %v, want %v", got, want.Add(15*time.Second))
	}
	// A single field written on a running clock.
	cmosWrite(r, regMinutes, 0x10)
	if got := cmosRead(r, regMinutes); got != 0x10 {
		t.Errorf("minutes = %#x after writing 0x10 to a running clock", got)
	}
}

func TestCMOSRAM(t *testing.T) {
	r := New(Config{Logger: quiet})
	if err := r.SetByte(0x34, 0xab); err != nil {
		t.Fatal(err)
	}
	if err := r.SetByte(0x5f, 0x03); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []byte{0x00, 0x0b, RegCentury, 0x80} {
		if err := r.SetByte(bad, 1); err == nil {
			t.Errorf("SetByte(%#x) accepted", bad)
		}
	}
	if cmosRead(r, 0x34) != 0xab || cmosRead(r, 0x5f) != 0x03 {
		t.Error("machine-set CMOS bytes not readable")
	}
	cmosWrite(r, 0x40, 0x5a)
	if cmosRead(r, 0x40) != 0x5a {
		t.Error("guest CMOS write lost")
	}
	if got := cmosRead(r, regD); got != dVRT {
		t.Errorf("register D = %#x, want 0x80", got)
	}
	cmosWrite(r, regD, 0)
	cmosWrite(r, regC, 0xff)
	if cmosRead(r, regD) != dVRT || cmosRead(r, regC)&cIRQF != 0 {
		t.Error("read-only registers C/D changed by writes")
	}
}

func TestNoInterruptUnlessEnabled(t *testing.T) {
	line := &irqtest.Line{}
	clock := &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := New(Config{IRQ: line, Now: clock.Now, Logger: quiet})
	defer r.Close()
	cmosRead(r, regC)
	for i := 0; i < 5; i++ {
		clock.set(clock.t.Add(time.Second))
		if c := cmosRead(r, regC); c&cUF == 0 || c&cIRQF != 0 {
			t.Errorf("C = %#x after a second with UIE off: want UF without IRQF", c)
		}
	}
	if line.EverHigh() {
		t.Error("IRQ 8 raised with every interrupt disabled")
	}
}

func TestPeriodicInterrupt(t *testing.T) {
	line := &irqtest.Line{}
	r := New(Config{IRQ: line, Logger: quiet})
	defer r.Close()
	cmosWrite(r, regB, b24Hour|bPIE) // 1024 Hz from register A's default rate
	deadline := time.Now().Add(2 * time.Second)
	for !line.EverHigh() {
		if time.Now().After(deadline) {
			t.Fatal("no periodic interrupt within 2 s")
		}
		time.Sleep(time.Millisecond)
	}
	if c := cmosRead(r, regC); c&(cIRQF|cPF) != cIRQF|cPF {
		t.Errorf("C = %#x, want IRQF|PF", c)
	}
	cmosWrite(r, regB, b24Hour)
	cmosRead(r, regC)
	if line.High() {
		t.Error("IRQ 8 still high after reading C")
	}
}

func FuzzAccesses(f *testing.F) {
	f.Add([]byte{0x00, 0x0b, 0x01, 0x86, 0x00, 0x09, 0x01, 0xff, 0x00, 0x0b, 0x01, 0x02})
	f.Add([]byte{0x00, 0x0b, 0x01, 0x70, 0x00, 0x0a, 0x01, 0x21, 0x10, 0x0c, 0x02, 0x00})
	f.Add([]byte{0x00, 0x32, 0x01, 0x99, 0x00, 0x08, 0x01, 0x00, 0x00, 0x0b, 0x01, 0x06})
	f.Fuzz(func(t *testing.T, ops []byte) {
		r := New(Config{IRQ: &irqtest.Line{}, Logger: quiet})
		defer r.Close()
		for len(ops) >= 2 {
			op, v := ops[0], ops[1]
			ops = ops[2:]
			width := []int{1, 2, 4, 8}[op>>4&3]
			off := uint64(op & 1)
			if off+uint64(width) > Size {
				width = 1
			}
			data := bytes.Repeat([]byte{v}, width)
			if op&2 != 0 {
				r.Read(off, data)
			} else {
				r.Write(off, data)
			}
			if op&4 != 0 {
				_ = r.SetByte(v, op)
			}
		}
	})
}

func TestResetKeepsTimeAndRAMButDropsInterrupts(t *testing.T) {
	line := &irqtest.Line{}
	clock := &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := New(Config{IRQ: line, Now: clock.Now, Logger: quiet})
	defer r.Close()
	cmosWrite(r, 0x50, 0x77)
	cmosWrite(r, regB, b24Hour|bBinary|bUIE)
	clock.set(clock.t.Add(time.Second))
	r.Reset()
	if b := cmosRead(r, regB); b != b24Hour|bBinary {
		t.Errorf("register B after reset = %#x, want the format kept and UIE cleared", b)
	}
	if cmosRead(r, 0x50) != 0x77 {
		t.Error("CMOS RAM lost across reset")
	}
	if c := cmosRead(r, regC); c&cIRQF != 0 {
		t.Errorf("C = %#x after reset", c)
	}
}
