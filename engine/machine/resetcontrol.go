package machine

import (
	"sync"

	"paddock/engine/bus"
)

// The reset control register at port 0xCF9 shares the PCI configuration ports' range (0xCF8..0xCFF) but answers
// only byte accesses, as on a PIIX southbridge. Firmware (SeaBIOS) and Linux (reboot=pci) reset the machine by
// setting its "reset CPU" bit.
const (
	resetControlOffset = 1    // 0xCF9 within the configuration ports
	resetControlCPU    = 0x04 // a 0-to-1 write resets the machine
	resetControlMask   = 0x0e // the bits that read back
)

// resetControlPort passes every access to the PCI configuration ports except byte accesses to 0xCF9.
type resetControlPort struct {
	config bus.Device
	reset  func()

	mu    sync.Mutex
	value byte
}

func newResetControlPort(config bus.Device, reset func()) *resetControlPort {
	return &resetControlPort{config: config, reset: reset}
}

func (p *resetControlPort) Read(offset uint64, data []byte) {
	if offset != resetControlOffset || len(data) != 1 {
		p.config.Read(offset, data)
		return
	}
	p.mu.Lock()
	data[0] = p.value
	p.mu.Unlock()
}

func (p *resetControlPort) Write(offset uint64, data []byte) {
	if offset != resetControlOffset || len(data) != 1 {
		p.config.Write(offset, data)
		return
	}
	p.mu.Lock()
	trigger := data[0]&resetControlCPU != 0 && p.value&resetControlCPU == 0
	p.value = data[0] & resetControlMask
	if trigger {
		p.value &^= resetControlCPU
	}
	p.mu.Unlock()
	if trigger {
		p.reset()
	}
}
