// Package bus routes guest port I/O and MMIO accesses to the device that owns the address.
package bus

import (
	"fmt"
	"sort"
	"sync"
)

// Device handles accesses to its range. offset is relative to the range's base; len(data) is 1, 2, 4 or 8.
// For a read the device fills data. Devices must be safe for use by several vCPUs at once.
type Device interface {
	Read(offset uint64, data []byte)
	Write(offset uint64, data []byte)
}

type entry struct {
	base, size uint64
	dev        Device
}

// Bus is one address space (port I/O or MMIO).
type Bus struct {
	mu      sync.RWMutex
	entries []entry // sorted by base, non-overlapping
}

// Register claims [base, base+size) for dev.
func (b *Bus) Register(base, size uint64, dev Device) error {
	if size == 0 || base+size < base {
		return fmt.Errorf("bus range %#x+%#x is empty or wraps", base, size)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	i := sort.Search(len(b.entries), func(i int) bool { return b.entries[i].base >= base })
	if i > 0 && b.entries[i-1].base+b.entries[i-1].size > base {
		return fmt.Errorf("bus range %#x+%#x overlaps %#x+%#x", base, size, b.entries[i-1].base, b.entries[i-1].size)
	}
	if i < len(b.entries) && base+size > b.entries[i].base {
		return fmt.Errorf("bus range %#x+%#x overlaps %#x+%#x", base, size, b.entries[i].base, b.entries[i].size)
	}
	b.entries = append(b.entries, entry{})
	copy(b.entries[i+1:], b.entries[i:])
	b.entries[i] = entry{base: base, size: size, dev: dev}
	return nil
}

// Unregister releases the range that starts at base, if any.
func (b *Bus) Unregister(base uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, e := range b.entries {
		if e.base == base {
			b.entries = append(b.entries[:i], b.entries[i+1:]...)
			return
		}
	}
}

func (b *Bus) find(addr uint64, n int) (Device, uint64, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	i := sort.Search(len(b.entries), func(i int) bool { return b.entries[i].base > addr }) - 1
	if i < 0 {
		return nil, 0, false
	}
	e := b.entries[i]
	off := addr - e.base
	if off >= e.size || uint64(n) > e.size-off {
		return nil, 0, false
	}
	return e.dev, off, true
}

// Read dispatches a read. With no device at addr it fills data with 0xff, as an unclaimed bus reads on a PC,
// and returns false.
func (b *Bus) Read(addr uint64, data []byte) bool {
	dev, off, ok := b.find(addr, len(data))
	if !ok {
		for i := range data {
			data[i] = 0xff
		}
		return false
	}
	dev.Read(off, data)
	return true
}

// Write dispatches a write; with no device at addr it is dropped and Write returns false.
func (b *Bus) Write(addr uint64, data []byte) bool {
	dev, off, ok := b.find(addr, len(data))
	if !ok {
		return false
	}
	dev.Write(off, data)
	return true
}
