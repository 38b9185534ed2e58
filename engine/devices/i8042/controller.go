// Package i8042 models the PC's PS/2 controller (data port 0x60, status/command port 0x64) with a keyboard
// and a minimal mouse behind it. The host types in PS/2 scan code set 1; the keyboard speaks set 2 to the
// controller, which translates to set 1 when the command byte asks for it, as every PC BIOS and Linux do.
package i8042

import (
	"log/slog"
	"sync"

	"paddock/engine/bus"
	"paddock/engine/irq"
)

// Status register bits (port 0x64, read).
const (
	statusOBF     = 0x01 // output buffer full
	statusSYS     = 0x04 // system flag, a copy of command byte bit 2
	statusCommand = 0x08 // last write went to port 0x64
	statusUnlock  = 0x10 // keyboard inhibit switch off ("no keylock")
	statusAuxData = 0x20 // output buffer holds mouse data
)

// Command byte (controller RAM byte 0) bits.
const (
	ctrKbdInt = 0x01
	ctrAuxInt = 0x02
	ctrSYS    = 0x04
	ctrKbdDis = 0x10
	ctrAuxDis = 0x20
	ctrXlate  = 0x40
)

// InitialCommandByte is the command byte as a PC BIOS leaves it: keyboard interrupt on, translation on,
// system flag set, mouse port disabled.
const InitialCommandByte = ctrKbdInt | ctrSYS | ctrAuxDis | ctrXlate

const (
	outputPortReset = 0x01 // active low: clearing it resets the CPU
	outputPortA20   = 0x02
	outputPortIRQ1  = 0x10
	outputPortIRQ12 = 0x20
	initialOutPort  = outputPortReset | outputPortA20

	controllerQueueLen = 16
)

// Config describes how the controller is wired.
type Config struct {
	KeyboardIRQ irq.Line // IRQ 1
	MouseIRQ    irq.Line // IRQ 12
	// ResetCPU is called (outside the controller's lock) when the guest pulses the reset line: command 0xFE,
	// Linux's reboot=k, or a write of the output port with bit 0 clear.
	ResetCPU func()
	Logger   *slog.Logger
}

type queued struct {
	b   byte
	aux bool
}

// Controller is the i8042. Register DataPort() at x86.PortI8042 and CommandPort() at x86.PortI8042+4, one port
// each (port 0x61 between them belongs to the PIT's speaker gate). Safe for concurrent use.
type Controller struct {
	mu               sync.Mutex
	kbdLine, auxLine irq.Line
	kbdHigh, auxHigh bool
	resetCPU         func()
	log              *slog.Logger

	ram         [32]byte // internal RAM; byte 0 is the command byte
	outPort     byte
	out         byte // output buffer
	outFull     bool
	outAux      bool
	lastCommand bool // status bit 3: the last write was to the command port
	awaiting    byte // controller command waiting for its data byte, 0 if none
	ctlQueue    []queued

	kbd keyboard
	aux mouse
}

// New returns a controller in the state a BIOS leaves it.
func New(cfg Config) *Controller {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &Controller{kbdLine: cfg.KeyboardIRQ, auxLine: cfg.MouseIRQ, resetCPU: cfg.ResetCPU, log: log}
	c.resetLocked()
	return c
}

// Reset returns the controller and its devices to their initial state (a machine reset).
func (c *Controller) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resetLocked()
	c.updateIRQs()
}

func (c *Controller) resetLocked() {
	c.ram = [32]byte{}
	c.ram[0] = InitialCommandByte
	c.outPort = initialOutPort
	c.out, c.outFull, c.outAux = 0, false, false
	c.lastCommand = false
	c.awaiting = 0
	c.ctlQueue = c.ctlQueue[:0]
	c.kbd.reset()
	c.aux.reset()
}

// DataPort is the bus device for port 0x60.
func (c *Controller) DataPort() bus.Device { return dataPort{c} }

// CommandPort is the bus device for port 0x64.
func (c *Controller) CommandPort() bus.Device { return commandPort{c} }

// KeyboardInput queues scan code set 1 bytes as if typed, and returns how many were accepted: none while the
// keyboard is not scanning (before the guest enables it), fewer than len(set1) when its buffer is full.
func (c *Controller) KeyboardInput(set1 []byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.kbd.typed(set1, c.ram[0]&ctrXlate != 0)
	c.refill()
	c.updateIRQs()
	return n
}

type dataPort struct{ c *Controller }

func (p dataPort) Read(_ uint64, data []byte) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.out // an empty buffer reads as the last byte, as on real controllers
	c.outFull = false
	// Lower the line before loading the next byte so that each byte is a fresh edge for the PIC.
	c.updateIRQs()
	c.refill()
	c.updateIRQs()
	fill(data, v)
}

func (p dataPort) Write(_ uint64, data []byte) {
	c := p.c
	if len(data) == 0 {
		return
	}
	c.mu.Lock()
	reset := c.writeData(data[0])
	c.refill()
	c.updateIRQs()
	c.mu.Unlock()
	if reset {
		c.pulseReset()
	}
}

type commandPort struct{ c *Controller }

func (p commandPort) Read(_ uint64, data []byte) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	fill(data, c.status())
}

func (p commandPort) Write(_ uint64, data []byte) {
	c := p.c
	if len(data) == 0 {
		return
	}
	c.mu.Lock()
	reset := c.command(data[0])
	c.refill()
	c.updateIRQs()
	c.mu.Unlock()
	if reset {
		c.pulseReset()
	}
}

func fill(data []byte, v byte) {
	for i := range data {
		data[i] = v
	}
}

func (c *Controller) pulseReset() {
	c.log.Info("i8042: guest pulsed the CPU reset line")
	if c.resetCPU != nil {
		c.resetCPU()
	}
}

func (c *Controller) status() byte {
	v := byte(statusUnlock)
	if c.outFull {
		v |= statusOBF
		if c.outAux {
			v |= statusAuxData
		}
	}
	if c.ram[0]&ctrSYS != 0 {
		v |= statusSYS
	}
	if c.lastCommand {
		v |= statusCommand
	}
	return v
}

// respond queues a controller reply; it is delivered ahead of device bytes.
func (c *Controller) respond(b byte, aux bool) {
	if len(c.ctlQueue) >= controllerQueueLen {
		return // a guest that never reads loses its replies, nothing more
	}
	c.ctlQueue = append(c.ctlQueue, queued{b, aux})
}

// command handles a write to port 0x64. It reports whether the CPU reset line was pulsed.
func (c *Controller) command(cmd byte) (reset bool) {
	c.lastCommand = true
	c.awaiting = 0
	switch {
	case cmd >= 0x20 && cmd <= 0x3f: // read internal RAM; 0x20 is the command byte
		c.respond(c.ram[cmd&0x1f], false)
	case cmd >= 0x60 && cmd <= 0x7f: // write internal RAM; data follows
		c.awaiting = cmd
	case cmd == 0xa4: // password installed? no
		c.respond(0xf1, false)
	case cmd == 0xa7:
		c.ram[0] |= ctrAuxDis
	case cmd == 0xa8:
		c.ram[0] &^= ctrAuxDis
	case cmd == 0xa9, cmd == 0xab: // mouse / keyboard interface test: no error
		c.respond(0x00, false)
	case cmd == 0xaa: // controller self test
		c.ram[0] |= ctrSYS
		c.respond(0x55, false)
	case cmd == 0xad:
		c.ram[0] |= ctrKbdDis
	case cmd == 0xae:
		c.ram[0] &^= ctrKbdDis
	case cmd == 0xc0: // input port: keyboard not inhibited
		c.respond(0x80, false)
	case cmd == 0xd0:
		v := c.outPort &^ (outputPortIRQ1 | outputPortIRQ12)
		if c.kbdHigh {
			v |= outputPortIRQ1
		}
		if c.auxHigh {
			v |= outputPortIRQ12
		}
		c.respond(v, false)
	case cmd >= 0xd1 && cmd <= 0xd4: // write output port / keyboard buffer / mouse buffer / to mouse
		c.awaiting = cmd
	case cmd == 0xdd:
		c.outPort &^= outputPortA20
	case cmd == 0xdf:
		c.outPort |= outputPortA20
	case cmd == 0xe0: // test inputs
		c.respond(0x00, false)
	case cmd >= 0xf0: // pulse output port bits whose command bit is 0; bit 0 is the reset line
		return cmd&outputPortReset == 0
	default:
		c.log.Debug("i8042: unknown controller command", "cmd", cmd)
	}
	return false
}

// writeData handles a write to port 0x60. It reports whether the CPU reset line was pulsed.
func (c *Controller) writeData(v byte) (reset bool) {
	c.lastCommand = false
	cmd := c.awaiting
	c.awaiting = 0
	switch {
	case cmd == 0x60:
		c.ram[0] = v
	case cmd > 0x60 && cmd <= 0x7f:
		c.ram[cmd&0x1f] = v
	case cmd == 0xd1:
		c.outPort = v | outputPortReset
		return v&outputPortReset == 0
	case cmd == 0xd2:
		c.respond(v, false)
	case cmd == 0xd3:
		c.respond(v, true)
	case cmd == 0xd4:
		c.aux.command(v)
	default:
		// Sending to the keyboard re-enables its interface, as on common controllers.
		c.ram[0] &^= ctrKbdDis
		c.kbd.command(v, c.ram[0]&ctrXlate != 0)
	}
	return false
}

// refill loads the output buffer when it is empty: controller replies first, then the keyboard, then the
// mouse, each device only while its interface is enabled.
func (c *Controller) refill() {
	if c.outFull {
		return
	}
	switch {
	case len(c.ctlQueue) > 0:
		q := c.ctlQueue[0]
		c.ctlQueue = append(c.ctlQueue[:0], c.ctlQueue[1:]...)
		c.load(q.b, q.aux)
	case c.ram[0]&ctrKbdDis == 0 && c.kbd.out.Len() > 0:
		b, _ := c.kbd.out.Pop()
		c.load(b, false)
	case c.ram[0]&ctrAuxDis == 0 && c.aux.out.Len() > 0:
		b, _ := c.aux.out.Pop()
		c.load(b, true)
	}
}

func (c *Controller) load(b byte, aux bool) {
	c.out, c.outFull, c.outAux = b, true, aux
}

// updateIRQs drives IRQ 1 while the buffer holds keyboard-side data and IRQ 12 while it holds mouse data,
// each only if the command byte enables it. Every byte loaded after a read makes a fresh rising edge.
func (c *Controller) updateIRQs() {
	kbd := c.outFull && !c.outAux && c.ram[0]&ctrKbdInt != 0
	aux := c.outFull && c.outAux && c.ram[0]&ctrAuxInt != 0
	if kbd != c.kbdHigh {
		c.kbdHigh = kbd
		if c.kbdLine != nil {
			c.kbdLine.Set(kbd)
		}
	}
	if aux != c.auxHigh {
		c.auxHigh = aux
		if c.auxLine != nil {
			c.auxLine.Set(aux)
		}
	}
}
