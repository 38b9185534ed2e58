package pci

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"

	"paddock/engine/bus"
	"paddock/engine/x86"
)

// The host bridge's identity. The device ID belongs to no chipset that firmware or Linux treats specially.
const (
	HostBridgeVendor = 0x8086
	HostBridgeDevice = 0x0d57
	classHostBridge  = 0x06_00_00
	numSlots         = 32
	configEnable     = 1 << 31
)

// Function is one PCI function on the root bus.
type Function interface {
	Config() *ConfigSpace
}

type hostBridge struct{ cs *ConfigSpace }

func (h hostBridge) Config() *ConfigSpace { return h.cs }

// Root is the root bus 0 behind the host bridge. Each slot holds one single-function device.
type Root struct {
	mu       sync.Mutex
	mmio     *bus.Bus
	log      *slog.Logger
	address  uint32 // CONFIG_ADDRESS
	slots    [numSlots]Function
	nextMMIO uint64
}

// NewRoot builds the root bus with the host bridge at 00:00.0. BARs of added functions are mapped on mmio.
// log may be nil.
func NewRoot(mmio *bus.Bus, log *slog.Logger) *Root {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Root{mmio: mmio, log: log, nextMMIO: x86.PCIMMIOStart}
	cs := NewConfigSpace(Header{VendorID: HostBridgeVendor, DeviceID: HostBridgeDevice, Class: classHostBridge,
		SubsystemVendorID: HostBridgeVendor, SubsystemID: HostBridgeDevice})
	binary.LittleEndian.PutUint16(cs.regs[RegCommand:], CommandMemory|CommandIO)
	r.slots[0] = hostBridge{cs}
	cs.mmio, cs.log = mmio, log
	return r
}

// Add places fn in the first free slot and gives its BARs initial addresses in x86.PCIMMIOStart..PCIMMIOEnd.
// The BARs become reachable once the guest turns memory decode on, as it does when it enables the device.
func (r *Root) Add(fn Function) error {
	_, err := r.AddSlot(fn)
	return err
}

// AddSlot is Add that also says which device number the function got.
func (r *Root) AddSlot(fn Function) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	slot := -1
	for i := 1; i < numSlots; i++ {
		if r.slots[i] == nil {
			slot = i
			break
		}
	}
	if slot < 0 {
		return 0, fmt.Errorf("pci: all %d slots are taken", numSlots)
	}
	if err := fn.Config().attach(r.mmio, r.log, r.allocLocked); err != nil {
		return 0, fmt.Errorf("pci: add function to slot %d: %w", slot, err)
	}
	r.slots[slot] = fn
	return slot, nil
}

// Remove takes the function out of its slot and unmaps its BARs.
func (r *Root) Remove(fn Function) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := 1; i < numSlots; i++ {
		if r.slots[i] == fn {
			r.slots[i] = nil
			fn.Config().detach()
		}
	}
}

func (r *Root) allocLocked(size uint64) (uint64, error) {
	addr := (r.nextMMIO + size - 1) &^ (size - 1)
	if addr < r.nextMMIO || addr+size > x86.PCIMMIOEnd || addr+size < addr {
		return 0, fmt.Errorf("pci: no room for a %#x-byte BAR in the MMIO window", size)
	}
	r.nextMMIO = addr + size
	return addr, nil
}

// ConfigPorts is the device for ports 0xCF8..0xCFF (x86.PortPCIConfig, 8 ports).
func (r *Root) ConfigPorts() bus.Device { return configPorts{r} }

type configPorts struct{ r *Root }

func (p configPorts) Read(offset uint64, data []byte) {
	if offset < 4 {
		fill(data, 0xff)
		if offset == 0 && len(data) == 4 {
			p.r.mu.Lock()
			binary.LittleEndian.PutUint32(data, p.r.address)
			p.r.mu.Unlock()
		}
		return
	}
	fn, reg, ok := p.r.target(offset - 4)
	if !ok || uint64(reg)+uint64(len(data)) > ConfigSize {
		fill(data, 0xff)
		return
	}
	fn.Config().Read(reg, data)
}

func (p configPorts) Write(offset uint64, data []byte) {
	if offset < 4 {
		// Only a dword write to 0xCF8 latches an address, as on a real host bridge.
		if offset == 0 && len(data) == 4 {
			p.r.mu.Lock()
			p.r.address = binary.LittleEndian.Uint32(data) &^ 0x7f00_0003
			p.r.mu.Unlock()
		}
		return
	}
	fn, reg, ok := p.r.target(offset - 4)
	if !ok || uint64(reg)+uint64(len(data)) > ConfigSize {
		return
	}
	fn.Config().Write(reg, data)
}

// target decodes CONFIG_ADDRESS into the function and register a CONFIG_DATA access at byte off reaches.
func (r *Root) target(off uint64) (Function, uint32, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.address
	busNum, dev, fn := (a>>16)&0xff, (a>>11)&0x1f, (a>>8)&7
	if a&configEnable == 0 || busNum != 0 || fn != 0 || r.slots[dev] == nil {
		return nil, 0, false
	}
	return r.slots[dev], a&0xfc + uint32(off), true
}

// Close closes every added function that has a Close method (virtio functions stop their workers and close
// their backends), and takes it off the bus. It returns the first error.
func (r *Root) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first error
	for i := 1; i < numSlots; i++ {
		fn := r.slots[i]
		if fn == nil {
			continue
		}
		fn.Config().detach()
		r.slots[i] = nil
		if c, ok := fn.(interface{ Close() error }); ok {
			if err := c.Close(); err != nil && first == nil {
				first = fmt.Errorf("pci: close function in slot %d: %w", i, err)
			}
		}
	}
	return first
}
