// Package syscontrol models System Control Port A (I/O port 0x92): the "fast A20" gate and the fast CPU reset
// that SeaBIOS and Linux's real-mode setup code use. KVM has no A20 mask, so the gate is only remembered.
package syscontrol

import "sync"

// Port is the I/O port it answers at; Size the number of ports.
const (
	Port = 0x92
	Size = 1
)

const (
	bitReset = 0x01 // writing 1 pulses the CPU reset line
	bitA20   = 0x02
)

// PortA implements bus.Device. Safe for concurrent use.
type PortA struct {
	mu       sync.Mutex
	value    byte
	resetCPU func()
}

// New returns the port with A20 enabled. resetCPU, called outside the lock, may be nil.
func New(resetCPU func()) *PortA { return &PortA{value: bitA20, resetCPU: resetCPU} }

// Reset restores the power-on value (a machine reset).
func (p *PortA) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.value = bitA20
}

// Read implements bus.Device.
func (p *PortA) Read(_ uint64, data []byte) {
	p.mu.Lock()
	v := p.value
	p.mu.Unlock()
	for i := range data {
		data[i] = v
	}
}

// Write implements bus.Device.
func (p *PortA) Write(_ uint64, data []byte) {
	if len(data) == 0 {
		return
	}
	p.mu.Lock()
	reset := data[0]&bitReset != 0
	p.value = data[0] &^ bitReset // the reset bit reads back as 0 once the pulse is over
	p.mu.Unlock()
	if reset && p.resetCPU != nil {
		p.resetCPU()
	}
}
