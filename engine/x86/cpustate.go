package x86

import (
	"encoding/binary"
	"fmt"

	"paddock/engine/guestmem"
	"paddock/engine/kvm"
)

// Boot GDT selectors. The 64-bit ones are the kernel's own __BOOT_CS and __BOOT_DS.
const (
	BootCS32 = 0x08 // flat 32-bit code, for the PVH entry
	BootCS   = 0x10 // 64-bit code
	BootDS   = 0x18 // flat data
)

// GDT descriptors (base 0, limit 0xFFFFF in 4 KiB units).
const (
	gdtCode32 = 0x00CF_9B00_0000_FFFF // G, D/B, P, S, type 0xB (execute/read, accessed)
	gdtCode64 = 0x00AF_9B00_0000_FFFF // G, L, P, S, type 0xB
	gdtData   = 0x00CF_9300_0000_FFFF // G, D/B, P, S, type 0x3 (read/write, accessed)
)

var bootGDT = [...]uint64{0, gdtCode32, gdtCode64, gdtData}

// Control-register and EFER bits.
const (
	cr0PE   = 1 << 0
	cr0ET   = 1 << 4
	cr0NW   = 1 << 29
	cr0CD   = 1 << 30
	cr0PG   = 1 << 31
	cr4PAE  = 1 << 5
	eferLME = 1 << 8
	eferLMA = 1 << 10
)

// Page-table entry bits.
const (
	ptePresent  = 1 << 0
	pteWritable = 1 << 1
	pteHuge     = 1 << 7
)

func writeGDT(mem *guestmem.Memory) error {
	b, err := mem.Slice(BootGDTAddr, uint64(len(bootGDT))*8)
	if err != nil {
		return fmt.Errorf("write boot GDT: %w", err)
	}
	for i, d := range bootGDT {
		binary.LittleEndian.PutUint64(b[i*8:], d)
	}
	return nil
}

// writeBootPageTables writes the GDT and page tables identity-mapping the first 4 GiB with 2 MiB pages: one PML4,
// one PDPT, four page directories.
func writeBootPageTables(mem *guestmem.Memory) error {
	if err := writeGDT(mem); err != nil {
		return err
	}
	tables, err := mem.Slice(PML4Addr, PDAddr+4*pageSize-PML4Addr)
	if err != nil {
		return fmt.Errorf("write boot page tables: %w", err)
	}
	clear(tables)
	le := binary.LittleEndian
	le.PutUint64(tables[0:], PDPTAddr|ptePresent|pteWritable)
	pdpt := tables[PDPTAddr-PML4Addr:]
	for i := uint64(0); i < 4; i++ {
		le.PutUint64(pdpt[i*8:], (PDAddr+i*pageSize)|ptePresent|pteWritable)
	}
	pd := tables[PDAddr-PML4Addr:]
	for i := uint64(0); i < 4*512; i++ {
		le.PutUint64(pd[i*8:], i<<21|ptePresent|pteWritable|pteHuge)
	}
	return nil
}

func flatSegment(selector uint16, typ uint8, long bool) kvm.Segment {
	s := kvm.Segment{Base: 0, Limit: 0xFFFF_FFFF, Selector: selector, Type: typ, Present: 1, S: 1, G: 1}
	if long {
		s.L = 1
	} else {
		s.DB = 1
	}
	return s
}

// BootCPUState returns the boot CPU's registers for entering the kernel LoadKernel loaded. sregs is the vCPU's
// state as KVM filled it; the task register and LDT are kept from it (KVM's reset TR is a usable busy TSS).
func BootCPUState(info BootInfo, sregs kvm.Sregs) (kvm.Regs, kvm.Sregs) {
	sregs.GDT = kvm.DTable{Base: BootGDTAddr, Limit: uint16(len(bootGDT)*8 - 1)}
	// An empty IDT: any fault before the kernel loads its own becomes a triple fault, a clean shutdown exit.
	sregs.IDT = kvm.DTable{}
	regs := kvm.Regs{RFLAGS: 2, RIP: info.Entry, RSP: BootStackTop, RBP: BootStackTop}
	data := flatSegment(BootDS, 3, false)
	sregs.DS, sregs.ES, sregs.FS, sregs.GS, sregs.SS = data, data, data, data, data
	cr0 := sregs.CR0&^(cr0CD|cr0NW) | cr0PE | cr0ET
	if info.Kind == EntryPVH {
		sregs.CS = flatSegment(BootCS32, 11, false)
		sregs.CR0 = cr0 &^ cr0PG
		sregs.CR4 = 0
		sregs.EFER = 0
		regs.RBX = info.Params
		return regs, sregs
	}
	sregs.CS = flatSegment(BootCS, 11, true)
	sregs.CR3 = PML4Addr
	sregs.CR4 |= cr4PAE
	sregs.CR0 = cr0 | cr0PG
	sregs.EFER |= eferLME | eferLMA
	regs.RSI = info.Params
	return regs, sregs
}
