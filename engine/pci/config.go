// Package pci models the guest's PCI bus: a host bridge and a root bus reached through type-1 configuration
// access (ports 0xCF8..0xCFF), and a configuration-space helper that device functions build on. Memory BARs are
// mapped onto the MMIO bus wherever the guest places them, whenever memory decode is on.
package pci

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/bits"
	"sync"

	"paddock/engine/bus"
)

// Configuration-space register offsets (type 0 header).
const (
	RegVendorID      = 0x00
	RegDeviceID      = 0x02
	RegCommand       = 0x04
	RegStatus        = 0x06
	RegRevision      = 0x08
	RegClass         = 0x09 // three bytes: prog-if, subclass, base class
	RegHeaderType    = 0x0E
	RegBAR0          = 0x10
	RegSubsysVendor  = 0x2C
	RegSubsysID      = 0x2E
	RegCapPointer    = 0x34
	RegInterruptLine = 0x3C
	RegInterruptPin  = 0x3D

	ConfigSize = 256
	NumBARs    = 6
)

// Command and status register bits.
const (
	CommandIO           = 1 << 0
	CommandMemory       = 1 << 1
	CommandBusMaster    = 1 << 2
	CommandINTxDisable  = 1 << 10
	StatusCapabilities  = 1 << 4
	capabilitiesStart   = 0x40
	barMemory64         = 0x4
	barMemoryPrefetch   = 0x8
	CapabilityIDMSIX    = 0x11
	CapabilityIDVendor  = 0x09
	minBARSize          = 16
	commandWritableMask = CommandIO | CommandMemory | CommandBusMaster | 1<<6 | 1<<8 | CommandINTxDisable
)

// Header is the identity a function shows in its configuration header.
type Header struct {
	VendorID, DeviceID uint16
	Revision           uint8
	// Class is base class << 16 | subclass << 8 | programming interface.
	Class                          uint32
	SubsystemVendorID, SubsystemID uint16
}

// BAR describes one memory BAR of a function.
type BAR struct {
	// Size is a power of two of at least 16 bytes.
	Size         uint64
	Is64         bool
	Prefetchable bool
	// Handler serves accesses to the BAR; offsets are relative to the BAR's base.
	Handler bus.Device
}

// Hooks let a function intercept configuration accesses to registers with side effects (capabilities).
// Both are called without the configuration space's lock held.
type Hooks struct {
	// Read may overwrite data, which holds the stored bytes of [offset, offset+len(data)).
	Read func(offset uint32, data []byte)
	// Write runs after a write to [offset, offset+len(data)) has been applied to the stored bytes.
	Write func(offset uint32, data []byte)
}

type barState struct {
	BAR
	present  bool
	upper    bool   // this slot holds the upper half of the previous 64-bit BAR
	addr     uint64 // as programmed, already masked to the BAR's alignment
	mapped   bool
	mappedAt uint64
}

// ConfigSpace is a function's 256-byte type 0 configuration space. It is safe for concurrent use.
type ConfigSpace struct {
	mu      sync.Mutex
	regs    [ConfigSize]byte
	wmask   [ConfigSize]byte
	bars    [NumBARs]barState
	capNext uint32 // where the next capability goes
	capLast uint32 // offset of the last capability, 0 if none
	hooks   Hooks
	mmio    *bus.Bus
	log     *slog.Logger
}

// NewConfigSpace builds a configuration space with the given identity, no BARs and no capabilities. The interrupt
// pin is 0: functions here signal with MSI-X only.
func NewConfigSpace(h Header) *ConfigSpace {
	c := &ConfigSpace{capNext: capabilitiesStart, log: slog.New(slog.DiscardHandler)}
	binary.LittleEndian.PutUint16(c.regs[RegVendorID:], h.VendorID)
	binary.LittleEndian.PutUint16(c.regs[RegDeviceID:], h.DeviceID)
	c.regs[RegRevision] = h.Revision
	c.regs[RegClass] = byte(h.Class)
	c.regs[RegClass+1] = byte(h.Class >> 8)
	c.regs[RegClass+2] = byte(h.Class >> 16)
	binary.LittleEndian.PutUint16(c.regs[RegSubsysVendor:], h.SubsystemVendorID)
	binary.LittleEndian.PutUint16(c.regs[RegSubsysID:], h.SubsystemID)
	binary.LittleEndian.PutUint16(c.wmask[RegCommand:], commandWritableMask)
	c.wmask[RegInterruptLine] = 0xff // scratch register for the OS
	c.wmask[0x0C] = 0xff             // cache line size
	c.wmask[0x0D] = 0xff             // latency timer
	return c
}

// SetHooks installs the function's interceptors. Call it before the function is added to a root.
func (c *ConfigSpace) SetHooks(h Hooks) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hooks = h
}

// SetBAR declares BAR index. A 64-bit BAR also takes slot index+1.
func (c *ConfigSpace) SetBAR(index int, b BAR) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if index < 0 || index >= NumBARs || (b.Is64 && index == NumBARs-1) {
		return fmt.Errorf("pci: BAR index %d is out of range", index)
	}
	if b.Size < minBARSize || bits.OnesCount64(b.Size) != 1 {
		return fmt.Errorf("pci: BAR size %#x is not a power of two of at least %d", b.Size, minBARSize)
	}
	if !b.Is64 && b.Size > 1<<31 {
		return fmt.Errorf("pci: 32-bit BAR of %#x bytes is too large", b.Size)
	}
	if b.Handler == nil {
		return fmt.Errorf("pci: BAR %d has no handler", index)
	}
	if c.bars[index].present || c.bars[index].upper || (b.Is64 && (c.bars[index+1].present || c.bars[index+1].upper)) {
		return fmt.Errorf("pci: BAR %d is already in use", index)
	}
	c.bars[index] = barState{BAR: b, present: true}
	if b.Is64 {
		c.bars[index+1] = barState{upper: true}
	}
	return nil
}

// AddCapability appends a capability with the given ID and body (the bytes after the ID and next pointer) to the
// capability list and returns its offset. writeMask, if not nil, has one byte per body byte saying which bits the
// guest may change.
func (c *ConfigSpace) AddCapability(id byte, body, writeMask []byte) (uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if writeMask != nil && len(writeMask) != len(body) {
		return 0, fmt.Errorf("pci: capability write mask has %d bytes for a %d-byte body", len(writeMask), len(body))
	}
	off := c.capNext
	end := off + 2 + uint32(len(body))
	if end > ConfigSize {
		return 0, fmt.Errorf("pci: no room for a %d-byte capability", len(body)+2)
	}
	c.regs[off] = id
	c.regs[off+1] = 0
	copy(c.regs[off+2:], body)
	if writeMask != nil {
		copy(c.wmask[off+2:], writeMask)
	}
	if c.capLast == 0 {
		c.regs[RegCapPointer] = byte(off)
		c.regs[RegStatus] |= StatusCapabilities
	} else {
		c.regs[c.capLast+1] = byte(off)
	}
	c.capLast = off
	c.capNext = (end + 3) &^ 3
	return off, nil
}

// Bytes copies the stored bytes at [offset, offset+len(dst)) into dst.
func (c *ConfigSpace) Bytes(offset uint32, dst []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if uint64(offset)+uint64(len(dst)) <= ConfigSize {
		copy(dst, c.regs[offset:])
	}
}

// SetBytes stores src at offset, bypassing the write mask (for a function updating its own registers).
func (c *ConfigSpace) SetBytes(offset uint32, src []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if uint64(offset)+uint64(len(src)) <= ConfigSize {
		copy(c.regs[offset:], src)
	}
}

// BARAddress is where BAR index currently sits (0 if unassigned), and whether it is mapped on the MMIO bus.
func (c *ConfigSpace) BARAddress(index int) (addr uint64, mapped bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if index < 0 || index >= NumBARs || !c.bars[index].present {
		return 0, false
	}
	return c.bars[index].addr, c.bars[index].mapped
}

// Read serves a configuration read of len(data) (1, 2 or 4) bytes at offset.
func (c *ConfigSpace) Read(offset uint32, data []byte) {
	if uint64(offset)+uint64(len(data)) > ConfigSize {
		fill(data, 0xff)
		return
	}
	c.mu.Lock()
	for i := range data {
		data[i] = c.readByte(offset + uint32(i))
	}
	hook := c.hooks.Read
	c.mu.Unlock()
	if hook != nil {
		hook(offset, data)
	}
}

// Write serves a configuration write of len(data) (1, 2 or 4) bytes at offset.
func (c *ConfigSpace) Write(offset uint32, data []byte) {
	if uint64(offset)+uint64(len(data)) > ConfigSize {
		return
	}
	c.mu.Lock()
	remap := false
	for i, v := range data {
		o := offset + uint32(i)
		if o >= RegBAR0 && o < RegBAR0+4*NumBARs {
			continue
		}
		old := c.regs[o]
		c.regs[o] = old&^c.wmask[o] | v&c.wmask[o]
		if o == RegCommand && (old^c.regs[o])&CommandMemory != 0 {
			remap = true
		}
	}
	// BAR registers: merge the written bytes into each touched dword, then program it.
	for reg := offset &^ 3; reg < offset+uint32(len(data)); reg += 4 {
		if reg < RegBAR0 || reg >= RegBAR0+4*NumBARs {
			continue
		}
		var dw [4]byte
		for i := range dw {
			dw[i] = c.readByte(reg + uint32(i))
		}
		for i := range dw {
			if o := reg + uint32(i); o >= offset && o < offset+uint32(len(data)) {
				dw[i] = data[o-offset]
			}
		}
		c.writeBAR(int(reg-RegBAR0)/4, binary.LittleEndian.Uint32(dw[:]))
		remap = true
	}
	if remap {
		c.remapLocked()
	}
	hook := c.hooks.Write
	c.mu.Unlock()
	if hook != nil {
		hook(offset, data)
	}
}

func (c *ConfigSpace) readByte(o uint32) byte {
	if o >= RegBAR0 && o < RegBAR0+4*NumBARs {
		var dw [4]byte
		binary.LittleEndian.PutUint32(dw[:], c.readBAR(int(o-RegBAR0)/4))
		return dw[o%4]
	}
	return c.regs[o]
}

func (c *ConfigSpace) readBAR(i int) uint32 {
	b := &c.bars[i]
	switch {
	case b.upper:
		return uint32(c.bars[i-1].addr >> 32)
	case !b.present:
		return 0
	}
	v := uint32(b.addr)
	if b.Is64 {
		v |= barMemory64
	}
	if b.Prefetchable {
		v |= barMemoryPrefetch
	}
	return v
}

// writeBAR programs slot i. Writing all ones and reading back yields the size mask, as every OS expects.
func (c *ConfigSpace) writeBAR(i int, v uint32) {
	b := &c.bars[i]
	switch {
	case b.upper:
		lo := &c.bars[i-1]
		lo.addr = (lo.addr&0xffff_ffff | uint64(v)<<32) &^ (lo.Size - 1)
	case b.present:
		b.addr = (b.addr&^0xffff_ffff | uint64(v)) &^ (b.Size - 1)
		if !b.Is64 {
			b.addr &= 0xffff_ffff
		}
	}
}

// remapLocked makes each BAR's presence on the MMIO bus match its address and the memory-decode bit.
func (c *ConfigSpace) remapLocked() {
	if c.mmio == nil {
		return
	}
	decode := binary.LittleEndian.Uint16(c.regs[RegCommand:])&CommandMemory != 0
	for i := range c.bars {
		b := &c.bars[i]
		if !b.present {
			continue
		}
		want := decode && b.addr != 0 && b.addr+b.Size > b.addr
		if b.mapped && (!want || b.mappedAt != b.addr) {
			c.mmio.Unregister(b.mappedAt)
			b.mapped = false
		}
		if want && !b.mapped {
			if err := c.mmio.Register(b.addr, b.Size, b.Handler); err != nil {
				// The guest put the BAR where something else lives; it stays unreachable until moved.
				c.log.Debug("pci: BAR not mapped", "bar", i, "addr", fmt.Sprintf("%#x", b.addr), "err", err)
				continue
			}
			b.mapped, b.mappedAt = true, b.addr
		}
	}
}

// attach connects the space to the MMIO bus and gives unassigned BARs an address from alloc.
func (c *ConfigSpace) attach(mmio *bus.Bus, log *slog.Logger, alloc func(size uint64) (uint64, error)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mmio != nil {
		return fmt.Errorf("pci: function is already on a bus")
	}
	for i := range c.bars {
		b := &c.bars[i]
		if !b.present || b.addr != 0 {
			continue
		}
		addr, err := alloc(b.Size)
		if err != nil {
			return err
		}
		b.addr = addr
	}
	c.mmio, c.log = mmio, log
	c.remapLocked()
	return nil
}

// detach unmaps every BAR.
func (c *ConfigSpace) detach() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.bars {
		if b := &c.bars[i]; b.mapped {
			c.mmio.Unregister(b.mappedAt)
			b.mapped = false
		}
	}
	c.mmio = nil
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}
