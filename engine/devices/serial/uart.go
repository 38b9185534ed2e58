// Package serial models a 16550A UART as a PC's COM port: eight byte-wide registers, a 16-byte receive FIFO,
// interrupt identification with the chip's priorities, loopback, and an interrupt line gated by MCR OUT2.
// Transmission is instantaneous: the transmitter is always empty by the time the guest looks again.
package serial

import (
	"io"
	"log/slog"
	"sync"

	"paddock/engine/devices/bytering"
	"paddock/engine/irq"
)

// Size is the number of I/O ports the UART decodes (base+0 .. base+7).
const Size = 8

// Register offsets from the base port.
const (
	regData = 0 // RBR (read) / THR (write); DLL when LCR.DLAB
	regIER  = 1 // DLM when LCR.DLAB
	regIIR  = 2 // IIR (read) / FCR (write)
	regLCR  = 3
	regMCR  = 4
	regLSR  = 5
	regMSR  = 6
	regSCR  = 7
)

const (
	ierRDI  = 0x01 // received data available
	ierTHRI = 0x02 // transmitter holding register empty
	ierRLSI = 0x04 // receiver line status
	ierMSI  = 0x08 // modem status
	ierMask = 0x0f // the 16550A has no bits above these; Linux's autoconfig checks they read as zero

	iirNoInt   = 0x01
	iirMSI     = 0x00
	iirTHRI    = 0x02
	iirRDI     = 0x04
	iirRLSI    = 0x06
	iirTimeout = 0x0c
	iirFIFOs   = 0xc0 // both bits set: "16550A with working FIFOs"

	fcrEnable  = 0x01
	fcrClearRX = 0x02
	fcrKept    = 0xc9 // enable, DMA mode and trigger level survive; the clear bits self-reset

	lcrDLAB = 0x80

	mcrDTR  = 0x01
	mcrRTS  = 0x02
	mcrOUT1 = 0x04
	mcrOUT2 = 0x08
	mcrLoop = 0x10
	mcrMask = 0x1f

	lsrDR   = 0x01
	lsrOE   = 0x02
	lsrTHRE = 0x20
	lsrTEMT = 0x40

	msrDCTS = 0x01
	msrDDSR = 0x02
	msrTERI = 0x04
	msrDDCD = 0x08
	msrCTS  = 0x10
	msrDSR  = 0x20
	msrRI   = 0x40
	msrDCD  = 0x80

	fifoSize = 16
)

// Default sizes of the host-side buffers.
const (
	DefaultInputQueue   = 4096
	DefaultOutputBuffer = 64 << 10
)

// Config describes how a UART is wired.
type Config struct {
	// IRQ is the interrupt line (IRQ 4 for COM1). Nil leaves the UART without an interrupt.
	IRQ irq.Line
	// Output receives what the guest transmits. Nil discards it. Writes happen on a goroutine of the UART's own,
	// so a slow writer never stalls a vCPU; when OutputBuffer bytes are waiting, further bytes are dropped.
	Output       io.Writer
	OutputBuffer int
	// InputQueue bounds the host bytes waiting to enter the 16-byte receive FIFO; beyond it, input overruns.
	InputQueue int
	Logger     *slog.Logger
}

// UART is a 16550A. It implements bus.Device for the Size ports at its base. Safe for concurrent use.
type UART struct {
	mu       sync.Mutex
	line     irq.Line
	lineHigh bool
	out      *outputPump
	log      *slog.Logger

	ier, lcr, mcr, scr, fcr byte
	dll, dlm                byte
	lsrErrors               byte // sticky error bits (overrun) until LSR is read
	msr                     byte // modem status lines (high nibble) and deltas (low nibble)
	thrInterrupt            bool // THRE interrupt pending (cleared by IIR read or THR write)
	lastRX                  byte

	rx      bytering.Ring // the chip's receive FIFO
	pending bytering.Ring // host input not yet in the FIFO
}

// New returns a UART in its power-on state.
func New(cfg Config) *UART {
	if cfg.InputQueue <= 0 {
		cfg.InputQueue = DefaultInputQueue
	}
	if cfg.OutputBuffer <= 0 {
		cfg.OutputBuffer = DefaultOutputBuffer
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	u := &UART{
		line:    cfg.IRQ,
		log:     log,
		rx:      bytering.New(fifoSize),
		pending: bytering.New(cfg.InputQueue),
	}
	if cfg.Output != nil {
		u.out = newOutputPump(cfg.Output, cfg.OutputBuffer, log)
	}
	u.resetLocked()
	return u
}

// Reset returns the registers to their power-on values (as a machine reset does). Queued host input is dropped.
func (u *UART) Reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.resetLocked()
	u.pending.Clear()
	u.updateIRQ()
}

func (u *UART) resetLocked() {
	u.ier, u.lcr, u.mcr, u.scr, u.fcr = 0, 0, 0, 0, 0
	u.dll, u.dlm = 0x0c, 0 // 9600 baud, what a BIOS leaves
	u.lsrErrors = 0
	u.thrInterrupt = false
	u.rx.Clear()
	u.msr = u.modemLines()
}

// Close flushes transmitted bytes to the output writer and stops its goroutine. The UART must not be used after.
func (u *UART) Close() error {
	if u.out == nil {
		return nil
	}
	return u.out.close()
}

// Dropped reports how many transmitted bytes were lost because the output writer fell behind.
func (u *UART) Dropped() uint64 {
	if u.out == nil {
		return 0
	}
	return u.out.droppedCount()
}

// Input queues bytes the host sends to the guest and returns how many were accepted. Bytes that do not fit
// are lost and the guest sees an overrun error, as on a real line.
func (u *UART) Input(p []byte) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, b := range p {
		u.refillRX()
		if !u.pending.Push(b) {
			u.lsrErrors |= lsrOE
			break
		}
		n++
	}
	u.refillRX()
	u.updateIRQ()
	return n
}

// Read implements bus.Device. Wider accesses touch consecutive registers, as an ISA bus splits them.
func (u *UART) Read(offset uint64, data []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i := range data {
		off := offset + uint64(i)
		if off >= Size {
			data[i] = 0xff
			continue
		}
		data[i] = u.readReg(off)
	}
	u.updateIRQ()
}

// Write implements bus.Device.
func (u *UART) Write(offset uint64, data []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i, v := range data {
		off := offset + uint64(i)
		if off >= Size {
			continue
		}
		u.writeReg(off, v)
	}
	u.updateIRQ()
}

func (u *UART) readReg(off uint64) byte {
	dlab := u.lcr&lcrDLAB != 0
	switch off {
	case regData:
		if dlab {
			return u.dll
		}
		if b, ok := u.rx.Pop(); ok {
			u.lastRX = b
			u.refillRX()
		}
		return u.lastRX
	case regIER:
		if dlab {
			return u.dlm
		}
		return u.ier
	case regIIR:
		id := u.interruptID()
		if id == iirTHRI {
			// Reading IIR acknowledges a THRE interrupt when it is the one reported.
			u.thrInterrupt = false
		}
		if u.fcr&fcrEnable != 0 {
			id |= iirFIFOs
		}
		return id
	case regLCR:
		return u.lcr
	case regMCR:
		return u.mcr
	case regLSR:
		v := u.lsr()
		u.lsrErrors = 0
		return v
	case regMSR:
		v := u.msr
		u.msr &^= 0x0f
		return v
	default: // regSCR
		return u.scr
	}
}

func (u *UART) writeReg(off uint64, v byte) {
	dlab := u.lcr&lcrDLAB != 0
	switch off {
	case regData:
		if dlab {
			u.dll = v
			return
		}
		u.transmit(v)
	case regIER:
		if dlab {
			u.dlm = v
			return
		}
		old := u.ier
		u.ier = v & ierMask
		// Enabling THRI while the holding register is empty raises the interrupt again even if an IIR read
		// had acknowledged it: Linux's THRE test at port start-up and its start_tx depend on that.
		if old&ierTHRI == 0 && u.ier&ierTHRI != 0 {
			u.thrInterrupt = true
		}
	case regIIR: // FCR
		if (v^u.fcr)&fcrEnable != 0 {
			u.rx.Clear() // toggling FIFO mode resets both FIFOs
		}
		if v&fcrClearRX != 0 {
			u.rx.Clear()
		}
		u.fcr = v & fcrKept
		if u.fcr&fcrEnable == 0 {
			u.fcr = 0
		}
		u.refillRX()
	case regLCR:
		u.lcr = v
	case regMCR:
		wasLoop := u.mcr&mcrLoop != 0
		u.mcr = v & mcrMask
		u.setModemLines(u.modemLines())
		if wasLoop && u.mcr&mcrLoop == 0 {
			u.refillRX()
		}
	case regLSR, regMSR:
		// Writable only in factory test modes; ignored.
	default: // regSCR
		u.scr = v
	}
}

func (u *UART) transmit(v byte) {
	if u.mcr&mcrLoop != 0 {
		u.receive(v)
	} else if u.out != nil {
		u.out.put(v)
	}
	// The byte leaves at once, so the holding register is empty again and THRE interrupts anew.
	u.thrInterrupt = true
}

// receive puts a byte into the receive FIFO straight from the line (loopback).
func (u *UART) receive(v byte) {
	if u.rx.Len() >= u.fifoCapacity() {
		u.lsrErrors |= lsrOE
		return
	}
	u.rx.Push(v)
}

// refillRX moves host input into the FIFO as room appears. In loopback the serial input is disconnected.
func (u *UART) refillRX() {
	if u.mcr&mcrLoop != 0 {
		return
	}
	for u.rx.Len() < u.fifoCapacity() {
		b, ok := u.pending.Pop()
		if !ok {
			return
		}
		u.rx.Push(b)
	}
}

func (u *UART) fifoCapacity() int {
	if u.fcr&fcrEnable != 0 {
		return fifoSize
	}
	return 1
}

func (u *UART) triggerLevel() int {
	if u.fcr&fcrEnable == 0 {
		return 1
	}
	return [4]int{1, 4, 8, 14}[u.fcr>>6]
}

func (u *UART) lsr() byte {
	v := lsrTHRE | lsrTEMT | u.lsrErrors
	if u.rx.Len() > 0 {
		v |= lsrDR
	}
	return v
}

// modemLines computes the modem status inputs: looped back from MCR in loopback mode, otherwise a connected
// terminal (carrier, data set ready, clear to send).
func (u *UART) modemLines() byte {
	if u.mcr&mcrLoop == 0 {
		return msrDCD | msrDSR | msrCTS
	}
	var v byte
	if u.mcr&mcrRTS != 0 {
		v |= msrCTS
	}
	if u.mcr&mcrDTR != 0 {
		v |= msrDSR
	}
	if u.mcr&mcrOUT1 != 0 {
		v |= msrRI
	}
	if u.mcr&mcrOUT2 != 0 {
		v |= msrDCD
	}
	return v
}

func (u *UART) setModemLines(lines byte) {
	old := u.msr & 0xf0
	changed := old ^ lines
	delta := u.msr & 0x0f
	if changed&msrCTS != 0 {
		delta |= msrDCTS
	}
	if changed&msrDSR != 0 {
		delta |= msrDDSR
	}
	if changed&msrDCD != 0 {
		delta |= msrDDCD
	}
	if old&msrRI != 0 && lines&msrRI == 0 {
		delta |= msrTERI // trailing edge only
	}
	u.msr = lines | delta
}

// interruptID returns the highest-priority pending, enabled interrupt, in the 16550A's order.
func (u *UART) interruptID() byte {
	switch {
	case u.ier&ierRLSI != 0 && u.lsrErrors != 0:
		return iirRLSI
	case u.ier&ierRDI != 0 && u.rx.Len() > 0:
		if u.rx.Len() < u.triggerLevel() {
			// Below the trigger level the chip reports a character timeout; the guest handles both alike.
			return iirTimeout
		}
		return iirRDI
	case u.ier&ierTHRI != 0 && u.thrInterrupt:
		return iirTHRI
	case u.ier&ierMSI != 0 && u.msr&0x0f != 0:
		return iirMSI
	}
	return iirNoInt
}

// updateIRQ drives the line: on a PC, OUT2 enables the UART's interrupt buffer, and loopback forces OUT2 off.
func (u *UART) updateIRQ() {
	if u.line == nil {
		return
	}
	high := u.mcr&mcrOUT2 != 0 && u.mcr&mcrLoop == 0 && u.interruptID() != iirNoInt
	if high != u.lineHigh {
		u.lineHigh = high
		u.line.Set(high)
	}
}
