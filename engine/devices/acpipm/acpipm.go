// Package acpipm models the ACPI fixed hardware registers a guest needs to power off and to hear the power
// button: the PM1a event block (PM1_STS, PM1_EN), the PM1a control block (PM1_CNT) and the PM timer.
// There is no SMI_CMD: the machine is always in ACPI mode, so SCI_EN reads as 1.
package acpipm

import (
	"encoding/binary"
	"log/slog"
	"sync"
	"time"

	"paddock/engine/bus"
	"paddock/engine/irq"
)

// Block sizes, for the FADT's PM1_EVT_LEN, PM1_CNT_LEN and PM_TMR_LEN.
const (
	EventBlockSize   = 4 // PM1_STS (2 bytes) then PM1_EN (2 bytes)
	ControlBlockSize = 2
	TimerBlockSize   = 4
)

// SleepTypeS5 is the SLP_TYP value that powers the machine off. The DSDT's \_S5 package must hold it.
const SleepTypeS5 = 5

// TimerFrequency is the PM timer's fixed rate in Hz (ACPI: 3.579545 MHz).
const TimerFrequency = 3579545

// PM1 status and enable bits.
const (
	StatusPowerButton = 1 << 8
	StatusWake        = 1 << 15
	enablePowerButton = 1 << 8

	// Enable bits a guest may set; the others are reserved or name hardware that is absent.
	enableWritable = 1<<0 | 1<<5 | 1<<8 | 1<<9 | 1<<10 | 1<<14
	// Status bits whose enable bit routes them to the SCI.
	sciSources = StatusPowerButton
)

// PM1 control bits.
const (
	controlSCIEnable = 1 << 0
	controlBMRLD     = 1 << 1
	controlSlpTyp    = 7 << 10
	controlSlpEn     = 1 << 13
	slpTypShift      = 10
)

// Config describes how the block is wired.
type Config struct {
	SCI irq.Line // the SCI (IRQ 9), level-triggered
	// PowerOff is called, outside the device lock, when the guest enters S5.
	PowerOff func()
	Logger   *slog.Logger
}

// PM holds the PM1a registers. Register EventBlock() at x86.PortACPIPM1aEvent (EventBlockSize ports) and
// ControlBlock() at x86.PortACPIPM1aControl (ControlBlockSize ports). Safe for concurrent use.
type PM struct {
	mu       sync.Mutex
	sci      irq.Line
	sciHigh  bool
	powerOff func()
	log      *slog.Logger

	status, enable, control uint16
}

// New returns the block in its power-on state: nothing pending, nothing enabled.
func New(cfg Config) *PM {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &PM{sci: cfg.SCI, powerOff: cfg.PowerOff, log: log}
}

// EventBlock is the bus device for PM1a_EVT_BLK.
func (p *PM) EventBlock() bus.Device { return eventBlock{p} }

// ControlBlock is the bus device for PM1a_CNT_BLK.
func (p *PM) ControlBlock() bus.Device { return controlBlock{p} }

// Reset clears status, enable and control (a machine reset).
func (p *PM) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status, p.enable, p.control = 0, 0, 0
	p.updateSCI()
}

// PressPowerButton latches PWRBTN_STS; if the guest enabled the power button event, the SCI goes high until
// the guest clears the status bit. A guest that has not set up ACPI simply ignores it.
func (p *PM) PressPowerButton() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status |= StatusPowerButton
	p.updateSCI()
}

// updateSCI drives the level-triggered SCI: high while any enabled status bit is set.
func (p *PM) updateSCI() {
	high := p.status&p.enable&sciSources != 0
	if high != p.sciHigh {
		p.sciHigh = high
		if p.sci != nil {
			p.sci.Set(high)
		}
	}
}

// The registers are little-endian and the guest may touch them a byte, a word or a dword at a time
// (ACPICA uses the widths the FADT gives; other code may not), so every access is handled byte by byte
// against the block's layout.

type eventBlock struct{ p *PM }

func (e eventBlock) Read(offset uint64, data []byte) {
	p := e.p
	p.mu.Lock()
	var regs [EventBlockSize]byte
	binary.LittleEndian.PutUint16(regs[0:], p.status)
	binary.LittleEndian.PutUint16(regs[2:], p.enable)
	p.mu.Unlock()
	readBytes(regs[:], offset, data)
}

func (e eventBlock) Write(offset uint64, data []byte) {
	p := e.p
	var stsClear, enMask, enValue uint16
	for i, b := range data {
		off := offset + uint64(i)
		switch {
		case off < 2:
			stsClear |= uint16(b) << (8 * off)
		case off < 4:
			enMask |= 0xff << (8 * (off - 2))
			enValue |= uint16(b) << (8 * (off - 2))
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status &^= stsClear // write 1 to clear
	p.enable = (p.enable&^enMask | enValue&enMask) & enableWritable
	p.updateSCI()
}

type controlBlock struct{ p *PM }

func (c controlBlock) Read(offset uint64, data []byte) {
	p := c.p
	p.mu.Lock()
	var regs [ControlBlockSize]byte
	binary.LittleEndian.PutUint16(regs[:], p.control|controlSCIEnable)
	p.mu.Unlock()
	readBytes(regs[:], offset, data)
}

func (c controlBlock) Write(offset uint64, data []byte) {
	p := c.p
	var mask, value uint16
	for i, b := range data {
		off := offset + uint64(i)
		if off < ControlBlockSize {
			mask |= 0xff << (8 * off)
			value |= uint16(b) << (8 * off)
		}
	}
	p.mu.Lock()
	v := p.control&^mask | value&mask
	// SLP_EN and GBL_RLS are write-only strobes; SCI_EN is fixed.
	p.control = v & (controlBMRLD | controlSlpTyp)
	sleep := mask&controlSlpEn != 0 && value&controlSlpEn != 0
	typ := (v & controlSlpTyp) >> slpTypShift
	p.mu.Unlock()
	if !sleep {
		return
	}
	if typ != SleepTypeS5 {
		p.log.Info("acpi: guest asked for an unsupported sleep state; ignored", "slp_typ", typ)
		return
	}
	p.log.Info("acpi: guest entered S5 (soft off)")
	if p.powerOff != nil {
		p.powerOff()
	}
}

func readBytes(regs []byte, offset uint64, data []byte) {
	for i := range data {
		off := offset + uint64(i)
		if off < uint64(len(regs)) {
			data[i] = regs[off]
		} else {
			data[i] = 0xff
		}
	}
}

// Timer is the ACPI PM timer: a free-running 24-bit counter at TimerFrequency, read-only. Register it at the
// port the FADT's PM_TMR_BLK names (TimerBlockSize ports), with the FADT's TMR_VAL_EXT flag clear.
type Timer struct {
	start time.Time
	now   func() time.Time
}

// NewTimer returns a PM timer counting from now. now may be nil (time.Now).
func NewTimer(now func() time.Time) *Timer {
	if now == nil {
		now = time.Now
	}
	return &Timer{start: now(), now: now}
}

// Read implements bus.Device.
func (t *Timer) Read(offset uint64, data []byte) {
	elapsed := t.now().Sub(t.start)
	// Split seconds and remainder so the product cannot overflow for any uptime.
	sec, rem := int64(elapsed/time.Second), int64(elapsed%time.Second)
	ticks := uint64(sec)*TimerFrequency + uint64(rem*TimerFrequency/int64(time.Second))
	var regs [TimerBlockSize]byte
	binary.LittleEndian.PutUint32(regs[:], uint32(ticks)&0xffffff)
	readBytes(regs[:], offset, data)
}

// Write implements bus.Device; the timer ignores writes.
func (t *Timer) Write(uint64, []byte) {}
