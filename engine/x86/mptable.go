package x86

import (
	"encoding/binary"
	"fmt"
)

// The MP table sits where the kernel scans for it (the BIOS ROM area 0xF0000-0xFFFFF); ACPI tables fill the space
// from BIOSTablesStart up to it.
const mpTableBase = 0xF_0000

const (
	mpFloatSize  = 16
	mpConfigHdr  = 44
	mpSpecRev    = 4
	mpAPICVer    = 0x14 // what KVM's LAPIC reports
	mpIOAPICVer  = 0x11
	mpProcessor  = 0
	mpBus        = 1
	mpIOAPIC     = 2
	mpIOIntr     = 3
	mpLocalIntr  = 4
	mpIntINT     = 0
	mpIntNMI     = 1
	mpIntExtINT  = 3
	mpCPUEnabled = 1
	mpCPUBoot    = 2
)

// IOAPICPin is the IOAPIC input an ISA IRQ is wired to: the identity, except the PIT's IRQ 0 on pin 2, as on
// PC hardware. The machine's GSI routing must match (KVM's default routes GSI 0 to pin 0).
func IOAPICPin(isaIRQ int) int {
	if isaIRQ == 0 {
		return 2
	}
	return isaIRQ
}

// mpTable builds the MP floating pointer and configuration table for address base.
func mpTable(base uint64, ncpus int) ([]byte, error) {
	le := binary.LittleEndian
	var entries []byte
	count := 0
	for i := 0; i < ncpus; i++ {
		flags := byte(mpCPUEnabled)
		if i == 0 {
			flags |= mpCPUBoot
		}
		e := []byte{mpProcessor, byte(i), mpAPICVer, flags}
		e = le.AppendUint32(e, 0x600) // CPU signature: family 6
		e = le.AppendUint32(e, 0x201) // features: FPU, APIC
		e = append(e, make([]byte, 8)...)
		entries = append(entries, e...)
		count++
	}
	entries = append(entries, mpBus, 0, 'I', 'S', 'A', ' ', ' ', ' ')
	count++
	ioapicID := byte(ncpus)
	entries = append(entries, mpIOAPIC, ioapicID, mpIOAPICVer, 1)
	entries = le.AppendUint32(entries, IOAPICBase)
	count++
	for irq := 0; irq < 16; irq++ {
		if irq == 2 {
			continue // the cascade; pin 2 carries IRQ 0
		}
		entries = append(entries, mpIOIntr, mpIntINT, 0, 0, 0, byte(irq), ioapicID, byte(IOAPICPin(irq)))
		count++
	}
	// The 8259's output on LINT0 of every CPU, NMI on LINT1.
	entries = append(entries, mpLocalIntr, mpIntExtINT, 0, 0, 0, 0, 0xFF, 0)
	entries = append(entries, mpLocalIntr, mpIntNMI, 0, 0, 0, 0, 0xFF, 1)
	count += 2

	cfg := make([]byte, mpConfigHdr, mpConfigHdr+len(entries))
	copy(cfg[0:4], "PCMP")
	le.PutUint16(cfg[4:], uint16(mpConfigHdr+len(entries)))
	cfg[6] = mpSpecRev
	copy(cfg[8:16], "PADDOCK ")
	copy(cfg[16:28], "PADDOCK VM  ")
	le.PutUint16(cfg[34:], uint16(count))
	le.PutUint32(cfg[36:], LAPICBase)
	cfg = append(cfg, entries...)
	cfg[7] = checksum(cfg)

	fp := make([]byte, mpFloatSize)
	copy(fp[0:4], "_MP_")
	le.PutUint32(fp[4:], uint32(base+mpFloatSize))
	fp[8] = 1 // length in 16-byte units
	fp[9] = mpSpecRev
	fp[10] = checksum(fp)
	out := append(fp, cfg...)
	if uint64(len(out)) > BIOSTablesEnd-base {
		return nil, fmt.Errorf("MP table for %d CPUs needs %d bytes, more than the %d reserved", ncpus, len(out), BIOSTablesEnd-base)
	}
	return out, nil
}
