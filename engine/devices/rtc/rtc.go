// Package rtc models the MC146818 real-time clock and its 128 bytes of CMOS RAM behind the index/data ports
// 0x70/0x71. The clock reads the host's UTC time at the moment of each read, shifted by whatever offset the
// guest set; it never stores a running copy of the time.
package rtc

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"paddock/engine/irq"
)

// Size is the number of I/O ports decoded: index at +0, data at +1.
const Size = 2

// CMOS register indexes.
const (
	regSeconds      = 0x00
	regSecondsAlarm = 0x01
	regMinutes      = 0x02
	regMinutesAlarm = 0x03
	regHours        = 0x04
	regHoursAlarm   = 0x05
	regWeekday      = 0x06
	regDay          = 0x07
	regMonth        = 0x08
	regYear         = 0x09
	regA            = 0x0a
	regB            = 0x0b
	regC            = 0x0c
	regD            = 0x0d
	// RegCentury holds the century (the ACPI FADT's CENTURY field should name it).
	RegCentury = 0x32
	// FirstRAMByte is the first byte of battery-backed RAM; the bytes below are the clock's registers.
	FirstRAMByte = 0x0e

	cmosSize = 128
)

const (
	aUIP     = 0x80
	aRSMask  = 0x0f
	bSET     = 0x80
	bPIE     = 0x40
	bAIE     = 0x20
	bUIE     = 0x10
	bBinary  = 0x04 // DM: 1 = binary, 0 = BCD
	b24Hour  = 0x02
	cIRQF    = 0x80
	cPF      = 0x40
	cAF      = 0x20
	cUF      = 0x10
	dVRT     = 0x80
	hourPM   = 0x80
	dontCare = 0xc0 // alarm bytes 0xc0..0xff match any value

	// uipWindow is how long before each second boundary register A reports an update in progress.
	uipWindow = 244 * time.Microsecond
	// minPeriod bounds periodic interrupts to 1024 Hz whatever rate the guest asks for.
	minPeriod = time.Second / 1024
)

// Config describes how the clock is wired.
type Config struct {
	IRQ irq.Line // IRQ 8
	// Now returns the host time; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// RTC is the clock and CMOS RAM. It implements bus.Device. Safe for concurrent use.
type RTC struct {
	mu       sync.Mutex
	line     irq.Line
	lineHigh bool
	now      func() time.Time
	log      *slog.Logger

	index  byte
	ram    [cmosSize]byte // RAM bytes and the alarm, A and B registers; time registers are computed
	offset int64          // guest time minus host time, in seconds
	// While B.SET is set the time registers hold what the guest writes; clearing SET starts the clock there.
	frozen    [10]byte
	frozenCen byte

	lastUpdate int64 // guest Unix second of the last update-ended flag
	lastAlarm  int64 // guest Unix second of the last alarm flag
	lastPeriod time.Time
	timer      *time.Timer
	timerGen   uint64
	closed     bool
}

// New returns a clock set to the host's time, in BCD, 24-hour mode, as a PC BIOS leaves it.
func New(cfg Config) *RTC {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	r := &RTC{line: cfg.IRQ, now: now, log: log}
	r.ram[regA] = 0x26 // 32.768 kHz time base, 1024 Hz periodic rate
	r.ram[regB] = b24Hour
	r.ram[regD] = dVRT
	return r
}

// SetByte stores a byte of CMOS RAM, for the machine to describe memory sizes and boot settings to firmware.
// The clock registers (below FirstRAMByte) and the century byte belong to the clock and are refused.
func (r *RTC) SetByte(index, value byte) error {
	if index < FirstRAMByte || index >= cmosSize || index == RegCentury {
		return fmt.Errorf("CMOS byte %#x is not free RAM", index)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ram[index] = value
	return nil
}

// Reset is what the chip's RESET pin does on a machine reset: interrupt enables and flags clear, while the
// time, the format and the RAM survive (they are battery-backed).
func (r *RTC) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ram[regB] &^= bPIE | bAIE | bUIE | 0x08 // and SQWE
	r.ram[regC] = 0
	r.armTimer()
	r.updateIRQ()
}

// Close stops the interrupt timer.
func (r *RTC) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.stopTimer()
}

// Read implements bus.Device. Wider accesses touch consecutive ports, as an ISA bus splits them.
func (r *RTC) Read(offset uint64, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range data {
		switch offset + uint64(i) {
		case 1:
			data[i] = r.readRegister(r.index)
		default:
			data[i] = 0xff // the index port is write-only
		}
	}
	r.updateIRQ()
}

// Write implements bus.Device.
func (r *RTC) Write(offset uint64, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, v := range data {
		switch offset + uint64(i) {
		case 0:
			r.index = v & 0x7f // bit 7 masks NMI, which this machine does not route
		case 1:
			r.writeRegister(r.index, v)
		}
	}
	r.updateIRQ()
}

func (r *RTC) guestNow() time.Time {
	host := r.now()
	return time.Unix(host.Unix()+r.offset, int64(host.Nanosecond())).UTC()
}

func (r *RTC) readRegister(idx byte) byte {
	switch {
	case idx == regSecondsAlarm || idx == regMinutesAlarm || idx == regHoursAlarm:
		return r.ram[idx]
	case idx <= regYear || idx == RegCentury:
		if r.ram[regB]&bSET != 0 {
			if idx == RegCentury {
				return r.frozenCen
			}
			return r.frozen[idx]
		}
		regs, cen := r.encode(r.guestNow())
		if idx == RegCentury {
			return cen
		}
		return regs[idx]
	case idx == regA:
		v := r.ram[regA] &^ aUIP
		if r.ram[regB]&bSET == 0 && r.guestNow().Nanosecond() >= int(time.Second-uipWindow) {
			v |= aUIP
		}
		return v
	case idx == regC:
		r.pollFlags(r.guestNow())
		v := r.ram[regC]
		r.ram[regC] = 0
		return v
	case idx == regD:
		return dVRT
	default:
		return r.ram[idx&0x7f]
	}
}

func (r *RTC) writeRegister(idx byte, v byte) {
	switch {
	case idx == regSecondsAlarm || idx == regMinutesAlarm || idx == regHoursAlarm:
		r.ram[idx] = v
		r.armTimer()
	case idx <= regYear || idx == RegCentury:
		if r.ram[regB]&bSET != 0 {
			if idx == RegCentury {
				r.frozenCen = v
			} else {
				r.frozen[idx] = v
			}
			return
		}
		// A running clock: change one field and carry on from there.
		regs, cen := r.encode(r.guestNow())
		if idx == RegCentury {
			cen = v
		} else {
			regs[idx] = v
		}
		r.setGuestTime(r.decode(regs, cen))
	case idx == regA:
		r.ram[regA] = v &^ aUIP
		r.armTimer()
	case idx == regB:
		old := r.ram[regB]
		if v&bSET != 0 {
			v &^= bUIE // setting SET clears UIE, as on the chip
			if old&bSET == 0 {
				r.frozen, r.frozenCen = r.encode(r.guestNow())
			}
		} else if old&bSET != 0 {
			// Decode in the mode the guest wrote the registers in.
			r.setGuestTime(r.decodeMode(r.frozen, r.frozenCen, old))
		}
		r.ram[regB] = v
		r.armTimer()
	case idx == regC || idx == regD:
		// Read-only.
	default:
		r.ram[idx&0x7f] = v
	}
}

func (r *RTC) setGuestTime(t time.Time) {
	r.offset = t.Unix() - r.now().Unix()
	r.log.Debug("rtc: guest set the clock", "time", t)
}

// encode renders t as the clock registers and century byte in the format register B selects.
func (r *RTC) encode(t time.Time) ([10]byte, byte) {
	mode := r.ram[regB]
	conv := func(v int) byte {
		if mode&bBinary != 0 {
			return byte(v)
		}
		return byte(v/10<<4 | v%10)
	}
	var regs [10]byte
	regs[regSeconds] = conv(t.Second())
	regs[regMinutes] = conv(t.Minute())
	h := t.Hour()
	if mode&b24Hour != 0 {
		regs[regHours] = conv(h)
	} else {
		h12 := h % 12
		if h12 == 0 {
			h12 = 12
		}
		regs[regHours] = conv(h12)
		if h >= 12 {
			regs[regHours] |= hourPM
		}
	}
	regs[regWeekday] = conv(int(t.Weekday()) + 1)
	regs[regDay] = conv(t.Day())
	regs[regMonth] = conv(int(t.Month()))
	year := t.Year()
	if year < 0 {
		year = 0
	}
	regs[regYear] = conv(year % 100)
	regs[regSecondsAlarm] = r.ram[regSecondsAlarm]
	regs[regMinutesAlarm] = r.ram[regMinutesAlarm]
	regs[regHoursAlarm] = r.ram[regHoursAlarm]
	return regs, conv(year / 100 % 100)
}

func (r *RTC) decode(regs [10]byte, cen byte) time.Time {
	return r.decodeMode(regs, cen, r.ram[regB])
}

// decodeMode turns registers back into a time. Nonsense values (bad BCD, month 0x99) are not rejected:
// time.Date normalises them, so a hostile guest gets a strange clock and nothing worse.
func (r *RTC) decodeMode(regs [10]byte, cen byte, mode byte) time.Time {
	conv := func(v byte) int {
		if mode&bBinary != 0 {
			return int(v)
		}
		return int(v>>4)*10 + int(v&0x0f)
	}
	hour := conv(regs[regHours] &^ hourPM)
	if mode&b24Hour == 0 {
		hour %= 12
		if regs[regHours]&hourPM != 0 {
			hour += 12
		}
	}
	year := conv(cen)*100 + conv(regs[regYear])
	return time.Date(year, time.Month(conv(regs[regMonth])), conv(regs[regDay]),
		hour, conv(regs[regMinutes]), conv(regs[regSeconds]), 0, time.UTC)
}

// pollFlags sets the update, alarm and periodic flags for events that happened by now, and IRQF when an
// enabled one is set. The timer calls it at each event while interrupts are enabled; reading C calls it too,
// so a guest that polls sees the flags without interrupts.
func (r *RTC) pollFlags(now time.Time) {
	if r.ram[regB]&bSET != 0 {
		return
	}
	sec := now.Unix()
	if sec != r.lastUpdate {
		r.lastUpdate = sec
		r.ram[regC] |= cUF
	}
	if sec != r.lastAlarm && r.alarmMatches(now) {
		r.lastAlarm = sec
		r.ram[regC] |= cAF
	}
	if p := r.period(); p > 0 && now.Sub(r.lastPeriod) >= p {
		r.lastPeriod = now
		r.ram[regC] |= cPF
	}
	if r.ram[regC]&r.ram[regB]&(cPF|cAF|cUF) != 0 {
		r.ram[regC] |= cIRQF
	}
}

func (r *RTC) alarmMatches(now time.Time) bool {
	regs, _ := r.encode(now)
	match := func(alarm, cur byte) bool { return alarm&dontCare == dontCare || alarm == cur }
	return match(r.ram[regSecondsAlarm], regs[regSeconds]) &&
		match(r.ram[regMinutesAlarm], regs[regMinutes]) &&
		match(r.ram[regHoursAlarm], regs[regHours])
}

// period is the periodic interrupt interval register A selects, or 0 when none.
func (r *RTC) period() time.Duration {
	rs := r.ram[regA] & aRSMask
	if rs == 0 {
		return 0
	}
	if rs <= 2 {
		rs += 7 // rates 1 and 2 repeat 8 and 9 (256 Hz, 128 Hz)
	}
	p := time.Second * time.Duration(1<<(rs-1)) / 32768
	return max(p, minPeriod)
}

// updateIRQ drives IRQ 8 from IRQF: high until the guest reads register C.
func (r *RTC) updateIRQ() {
	high := r.ram[regC]&cIRQF != 0
	if high != r.lineHigh {
		r.lineHigh = high
		if r.line != nil {
			r.line.Set(high)
		}
	}
}

func (r *RTC) stopTimer() {
	r.timerGen++
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

// armTimer schedules the next interrupt-worthy event, if the guest enabled any interrupt.
func (r *RTC) armTimer() {
	r.stopTimer()
	b := r.ram[regB]
	if r.closed || b&bSET != 0 || b&(bPIE|bAIE|bUIE) == 0 {
		return
	}
	now := r.guestNow()
	wait := time.Duration(-1)
	if b&(bAIE|bUIE) != 0 {
		wait = time.Second - time.Duration(now.Nanosecond())
	}
	if p := r.period(); b&bPIE != 0 && p > 0 {
		if r.lastPeriod.IsZero() || now.Before(r.lastPeriod) || now.Sub(r.lastPeriod) > time.Second {
			r.lastPeriod = now
		}
		next := max(p-now.Sub(r.lastPeriod), 0)
		if wait < 0 || next < wait {
			wait = next
		}
	}
	if wait < 0 {
		return // only PIE, with rate 0: nothing ever fires
	}
	gen := r.timerGen
	r.timer = time.AfterFunc(wait, func() { r.tick(gen) })
}

func (r *RTC) tick(gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if gen != r.timerGen || r.closed {
		return
	}
	r.pollFlags(r.guestNow())
	r.updateIRQ()
	r.armTimer()
}
