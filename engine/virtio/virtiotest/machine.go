// Package virtiotest drives virtio PCI devices from Go exactly as a guest driver does: it enumerates PCI through
// the configuration ports, reads the capabilities, negotiates features, builds split virtqueues in fake guest RAM,
// programs MSI-X, places descriptors, notifies through the notify region, and watches interrupts arrive at a fake
// MSI sender. Tests and benchmarks of the device models use it.
package virtiotest

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"paddock/engine/bus"
	"paddock/engine/guestmem"
	"paddock/engine/pci"
	"paddock/engine/virtio"
	"paddock/engine/x86"
)

// Machine is a minimal guest platform: RAM at guest-physical 0, an MMIO bus, a port bus with the PCI
// configuration ports, the PCI root, and an MSI recorder.
type Machine struct {
	RAM  []byte
	Mem  *guestmem.Memory
	MMIO *bus.Bus
	IO   *bus.Bus
	Root *pci.Root
	MSI  *MSIRecorder

	mu   sync.Mutex
	next uint64 // bump allocator over RAM
}

// NewMachine makes a machine with ramSize bytes of RAM.
func NewMachine(ramSize uint64) (*Machine, error) {
	ram := make([]byte, ramSize)
	mem, err := guestmem.New(guestmem.Region{GPA: 0, Host: ram})
	if err != nil {
		return nil, err
	}
	m := &Machine{RAM: ram, Mem: mem, MMIO: &bus.Bus{}, IO: &bus.Bus{}, MSI: NewMSIRecorder(), next: 0x1000}
	m.Root = pci.NewRoot(m.MMIO, nil)
	if err := m.IO.Register(x86.PortPCIConfig, 8, m.Root.ConfigPorts()); err != nil {
		return nil, err
	}
	return m, nil
}

// Alloc reserves n bytes of RAM aligned to align (a power of two) and returns the guest address.
func (m *Machine) Alloc(n, align uint64) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	addr := (m.next + align - 1) &^ (align - 1)
	if addr+n > uint64(len(m.RAM)) {
		return 0, fmt.Errorf("virtiotest: out of guest RAM allocating %d bytes", n)
	}
	m.next = addr + n
	return addr, nil
}

func configAddress(slot int, reg uint32) []byte {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, 1<<31|uint32(slot)<<11|reg&0xfc)
	return b
}

// ConfigRead reads n (1, 2 or 4) bytes of slot's configuration space through ports 0xCF8/0xCFC.
func (m *Machine) ConfigRead(slot int, reg uint32, n int) uint32 {
	m.IO.Write(x86.PortPCIConfig, configAddress(slot, reg))
	b := make([]byte, 4)
	m.IO.Read(x86.PortPCIConfig+4+uint64(reg&3), b[:n])
	return binary.LittleEndian.Uint32(b)
}

// ConfigWrite writes n (1, 2 or 4) bytes of slot's configuration space through ports 0xCF8/0xCFC.
func (m *Machine) ConfigWrite(slot int, reg uint32, n int, v uint32) {
	m.IO.Write(x86.PortPCIConfig, configAddress(slot, reg))
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, v)
	m.IO.Write(x86.PortPCIConfig+4+uint64(reg&3), b[:n])
}

// MMIORead reads n bytes at a guest-physical MMIO address, little-endian.
func (m *Machine) MMIORead(addr uint64, n int) uint64 {
	b := make([]byte, 8)
	m.MMIO.Read(addr, b[:n])
	return binary.LittleEndian.Uint64(b)
}

// MMIOWrite writes the low n bytes of v at a guest-physical MMIO address.
func (m *Machine) MMIOWrite(addr uint64, n int, v uint64) {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	m.MMIO.Write(addr, b[:n])
}

// MSI is one message a device signalled.
type MSI struct {
	Addr uint64
	Data uint32
}

// MSIRecorder is a fake irq.MSISender that remembers every message.
type MSIRecorder struct {
	mu      sync.Mutex
	counts  map[uint32]int
	all     []MSI
	waiters map[uint32]chan struct{}
}

// NewMSIRecorder makes an empty recorder.
func NewMSIRecorder() *MSIRecorder {
	return &MSIRecorder{counts: map[uint32]int{}, waiters: map[uint32]chan struct{}{}}
}

// SignalMSI records the message.
func (r *MSIRecorder) SignalMSI(addr uint64, data uint32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[data]++
	if len(r.all) < 1<<16 {
		r.all = append(r.all, MSI{addr, data})
	}
	if ch, ok := r.waiters[data]; ok {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return nil
}

// Count is how many messages with data arrived.
func (r *MSIRecorder) Count(data uint32) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[data]
}

// All returns every recorded message.
func (r *MSIRecorder) All() []MSI {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]MSI(nil), r.all...)
}

func (r *MSIRecorder) waiter(data uint32) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch, ok := r.waiters[data]
	if !ok {
		ch = make(chan struct{}, 1)
		r.waiters[data] = ch
	}
	return ch
}

// WaitCount waits until at least n messages with data have arrived.
func (r *MSIRecorder) WaitCount(data uint32, n int, timeout time.Duration) bool {
	ch := r.waiter(data)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for r.Count(data) < n {
		select {
		case <-ch:
		case <-deadline.C:
			return r.Count(data) >= n
		}
	}
	return true
}

// Attach puts dev on the machine's PCI bus behind the virtio transport and probes it. The returned function must
// be closed by the caller.
func (m *Machine) Attach(dev virtio.Device) (*virtio.PCI, *Driver, error) {
	fn, err := virtio.NewPCI(dev, m.Mem, m.MSI, nil)
	if err != nil {
		return nil, nil, err
	}
	slot, err := m.Root.AddSlot(fn)
	if err != nil {
		fn.Close()
		return nil, nil, err
	}
	d, err := m.Probe(slot)
	if err != nil {
		fn.Close()
		return nil, nil, err
	}
	return fn, d, nil
}
