package x86

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// The tables handed to firmware are the direct boot's tables, one whole table each, with the FADT's links empty.
func TestACPITablesForFirmware(t *testing.T) {
	le := binary.LittleEndian
	for _, ncpus := range []int{1, 4, 64} {
		tables, err := ACPITables(ncpus)
		if err != nil {
			t.Fatal(err)
		}
		bySig := map[string][]byte{}
		var sigs []string
		for _, tab := range tables {
			if len(tab) < 8 || int(le.Uint32(tab[4:])) != len(tab) {
				t.Fatalf("table % x: length field does not match its %d bytes", tab[:min(len(tab), 8)], len(tab))
			}
			sig := string(tab[:4])
			if sig != "FACS" && sum(tab) != 0 {
				t.Errorf("%s checksum is wrong", sig)
			}
			sigs = append(sigs, sig)
			bySig[sig] = tab
		}
		if got := len(bySig); got != 4 || bySig["FACS"] == nil || bySig["DSDT"] == nil || bySig["FACP"] == nil || bySig["APIC"] == nil {
			t.Fatalf("tables %v, want FACS, DSDT, FACP and APIC once each", sigs)
		}
		fadt := bySig["FACP"]
		if le.Uint32(fadt[36:]) != 0 || le.Uint32(fadt[40:]) != 0 || le.Uint64(fadt[132:]) != 0 || le.Uint64(fadt[140:]) != 0 {
			t.Error("the FADT's FACS and DSDT links are not empty")
		}
		checkMADT(t, bySig["APIC"], ncpus)

		// The same bytes as a direct boot's tables (the FADT apart from its links).
		mem := newMem(t, 16<<20)
		rsdpAddr, err := WriteTables(mem, ncpus)
		if err != nil {
			t.Fatal(err)
		}
		rsdp, _ := mem.Slice(rsdpAddr, 36)
		xsdt := readTable(t, mem, le.Uint64(rsdp[24:]), "XSDT")
		direct := map[string][]byte{}
		for i := 36; i < len(xsdt); i += 8 {
			a := le.Uint64(xsdt[i:])
			hdr, _ := mem.Slice(a, 4)
			direct[string(hdr)] = readTable(t, mem, a, string(hdr))
		}
		directFADT := direct["FACP"]
		direct["DSDT"] = readTable(t, mem, le.Uint64(directFADT[140:]), "DSDT")
		for _, sig := range []string{"DSDT", "APIC"} {
			if !bytes.Equal(bySig[sig], direct[sig]) {
				t.Errorf("%s differs from the direct boot's", sig)
			}
		}
		unlinked := append([]byte(nil), directFADT...)
		for _, f := range [][2]int{{36, 4}, {40, 4}, {132, 8}, {140, 8}} {
			clear(unlinked[f[0] : f[0]+f[1]])
		}
		unlinked[9] = 0
		unlinked[9] = -sum(unlinked)
		if !bytes.Equal(fadt, unlinked) {
			t.Error("the FADT differs from the direct boot's in more than its links")
		}
	}
	for _, n := range []int{0, -1, MaxCPUs + 1} {
		if _, err := ACPITables(n); err == nil {
			t.Errorf("%d vCPUs accepted", n)
		}
	}
}
