package x86

import (
	"fmt"

	"paddock/engine/guestmem"
)

// MaxCPUs is the most vCPUs the firmware tables describe: APIC IDs are 8 bits and the IOAPIC takes the next ID.
const MaxCPUs = 254

// WriteTables writes the MP table and the ACPI tables (RSDP, XSDT, RSDT, FADT, FACS, DSDT, MADT) for ncpus vCPUs
// into BIOSTablesStart..BIOSTablesEnd and returns the RSDP's address for LoadOptions.RSDP.
func WriteTables(mem *guestmem.Memory, ncpus int) (uint64, error) {
	if ncpus < 1 || ncpus > MaxCPUs {
		return 0, fmt.Errorf("firmware tables: %d vCPUs, want 1 to %d", ncpus, MaxCPUs)
	}
	area, err := mem.Slice(BIOSTablesStart, BIOSTablesEnd-BIOSTablesStart)
	if err != nil {
		return 0, fmt.Errorf("firmware tables: the BIOS area is not guest RAM: %w", err)
	}
	acpi, err := acpiTables(BIOSTablesStart, ncpus)
	if err != nil {
		return 0, err
	}
	mp, err := mpTable(mpTableBase, ncpus)
	if err != nil {
		return 0, err
	}
	clear(area)
	copy(area, acpi)
	copy(area[mpTableBase-BIOSTablesStart:], mp)
	return BIOSTablesStart, nil
}
