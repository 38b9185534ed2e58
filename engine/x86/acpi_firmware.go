package x86

import "fmt"

// ACPITables returns the machine's ACPI tables for ncpus vCPUs as separate whole tables (FACS, DSDT, FADT, MADT),
// for firmware that places and links them itself, as SeaBIOS does with fw_cfg's table loader. They are the tables a
// direct boot gets, from the same builders; the FADT's links to the FACS and DSDT are left zero for the loader to
// fill, and the RSDP, RSDT and XSDT are the firmware's to build.
func ACPITables(ncpus int) ([][]byte, error) {
	if ncpus < 1 || ncpus > MaxCPUs {
		return nil, fmt.Errorf("ACPI tables: %d vCPUs, want 1 to %d", ncpus, MaxCPUs)
	}
	return [][]byte{facs(), sdt("DSDT", 2, dsdtAML()), fadt(0, 0), madt(ncpus)}, nil
}
