package x86

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"paddock/engine/guestmem"
)

func sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// readTable reads an ACPI table at addr and checks its signature, length and checksum.
func readTable(t *testing.T, mem *guestmem.Memory, addr uint64, sig string) []byte {
	t.Helper()
	if addr < BIOSTablesStart || addr >= mpTableBase {
		t.Fatalf("%s at %#x, outside the ACPI area", sig, addr)
	}
	hdr, err := mem.Slice(addr, 36)
	if err != nil {
		t.Fatal(err)
	}
	if string(hdr[:4]) != sig {
		t.Fatalf("table at %#x is %q, want %q", addr, hdr[:4], sig)
	}
	n := binary.LittleEndian.Uint32(hdr[4:])
	tab, err := mem.Slice(addr, uint64(n))
	if err != nil {
		t.Fatal(err)
	}
	if sum(tab) != 0 {
		t.Errorf("%s checksum is wrong", sig)
	}
	return tab
}

func TestACPITables(t *testing.T) {
	for _, ncpus := range []int{1, 4, 64} {
		mem := newMem(t, 16<<20)
		rsdpAddr, err := WriteTables(mem, ncpus)
		if err != nil {
			t.Fatal(err)
		}
		rsdp, _ := mem.Slice(rsdpAddr, 36)
		if string(rsdp[:8]) != "RSD PTR " || rsdp[15] != 2 || sum(rsdp[:20]) != 0 || sum(rsdp) != 0 ||
			binary.LittleEndian.Uint32(rsdp[20:]) != 36 || rsdpAddr%16 != 0 {
			t.Fatalf("RSDP % x", rsdp)
		}
		le := binary.LittleEndian
		xsdt := readTable(t, mem, le.Uint64(rsdp[24:]), "XSDT")
		rsdt := readTable(t, mem, uint64(le.Uint32(rsdp[16:])), "RSDT")
		tables := map[string][]byte{}
		for i := 36; i < len(xsdt); i += 8 {
			a := le.Uint64(xsdt[i:])
			if uint64(le.Uint32(rsdt[36+(i-36)/2:])) != a {
				t.Errorf("RSDT and XSDT disagree at entry %d", (i-36)/8)
			}
			hdr, _ := mem.Slice(a, 4)
			tables[string(hdr)] = readTable(t, mem, a, string(hdr))
		}
		fadt, madt := tables["FACP"], tables["APIC"]
		if fadt == nil || madt == nil {
			t.Fatalf("XSDT lists %v, want FACP and APIC", tables)
		}
		if len(fadt) != 276 || fadt[8] != 6 {
			t.Errorf("FADT length %d revision %d, want 276 and 6", len(fadt), fadt[8])
		}
		if le.Uint16(fadt[46:]) != IRQACPISCI || le.Uint32(fadt[48:]) != 0 ||
			le.Uint32(fadt[56:]) != PortACPIPM1aEvent || fadt[88] != 4 ||
			le.Uint32(fadt[64:]) != PortACPIPM1aControl || fadt[89] != 2 {
			t.Error("FADT SCI / SMI_CMD / PM1 blocks wrong")
		}
		flags := le.Uint32(fadt[112:])
		if flags&(1<<4) != 0 || flags&(1<<5) == 0 || flags&(1<<10) != 0 || flags&(1<<20) != 0 {
			t.Errorf("FADT flags %#x: want fixed power button, no sleep button, no reset reg, not hardware-reduced", flags)
		}
		if le.Uint16(fadt[109:])&bootArch8042 == 0 {
			t.Error("FADT does not announce the i8042")
		}
		if gas := fadt[148:160]; gas[0] != 1 || gas[1] != 32 || le.Uint64(gas[4:]) != PortACPIPM1aEvent {
			t.Errorf("X_PM1a_EVT_BLK % x", gas)
		}
		if gas := fadt[172:184]; gas[0] != 1 || gas[1] != 16 || le.Uint64(gas[4:]) != PortACPIPM1aControl {
			t.Errorf("X_PM1a_CNT_BLK % x", gas)
		}
		facsAddr := le.Uint64(fadt[132:])
		// ACPI allows FIRMWARE_CTRL or X_FIRMWARE_CTRL, not both (Linux would install the FACS twice).
		if le.Uint32(fadt[36:]) != 0 || facsAddr == 0 || facsAddr%64 != 0 {
			t.Errorf("FACS at %#x, FIRMWARE_CTRL %#x", facsAddr, le.Uint32(fadt[36:]))
		}
		if facs, _ := mem.Slice(facsAddr, 64); string(facs[:4]) != "FACS" || le.Uint32(facs[4:]) != 64 {
			t.Errorf("FACS % x", facs)
		}
		dsdt := readTable(t, mem, le.Uint64(fadt[140:]), "DSDT")
		if uint64(le.Uint32(fadt[40:])) != le.Uint64(fadt[140:]) {
			t.Error("DSDT and X_DSDT disagree")
		}
		s5 := []byte{0x08, '\\', '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0A, SleepTypeS5, 0x0A, SleepTypeS5, 0x00, 0x00}
		if !bytes.Contains(dsdt, s5) {
			t.Errorf("DSDT lacks Name(\\_S5, Package(){%d, %d, 0, 0})", SleepTypeS5, SleepTypeS5)
		}
		if !bytes.Contains(dsdt, []byte{0x0C, 0x41, 0xD0, 0x0A, 0x03}) {
			t.Error("DSDT lacks the PNP0A03 root bridge")
		}
		checkMADT(t, madt, ncpus)
		checkMPTable(t, mem, ncpus)
	}
	if _, err := WriteTables(newMem(t, 16<<20), 0); err == nil {
		t.Error("0 vCPUs accepted")
	}
	if _, err := WriteTables(newMem(t, 16<<20), MaxCPUs+1); err == nil {
		t.Error("too many vCPUs accepted")
	}
	if _, err := WriteTables(newMem(t, 0x80000), 1); err == nil {
		t.Error("tables written without RAM in the BIOS area")
	}
}

func checkMADT(t *testing.T, madt []byte, ncpus int) {
	t.Helper()
	le := binary.LittleEndian
	if le.Uint32(madt[36:]) != LAPICBase || le.Uint32(madt[40:])&1 != 1 {
		t.Error("MADT local APIC address or PCAT_COMPAT wrong")
	}
	var cpus []byte
	var ioapics, isos, nmis int
	for off := 44; off < len(madt); {
		typ, n := madt[off], int(madt[off+1])
		if n < 2 || off+n > len(madt) {
			t.Fatalf("MADT entry at %d has length %d", off, n)
		}
		e := madt[off : off+n]
		switch typ {
		case 0:
			if n != 8 || le.Uint32(e[4:])&1 != 1 || e[2] != e[3] {
				t.Errorf("local APIC entry % x", e)
			}
			cpus = append(cpus, e[3])
		case 1:
			ioapics++
			if n != 12 || e[2] != byte(ncpus) || le.Uint32(e[4:]) != IOAPICBase || le.Uint32(e[8:]) != 0 {
				t.Errorf("IOAPIC entry % x", e)
			}
		case 2:
			isos++
			switch e[3] {
			case 0:
				if le.Uint32(e[4:]) != 2 || le.Uint16(e[8:]) != 0 {
					t.Errorf("IRQ0 override % x, want GSI 2", e)
				}
			case IRQACPISCI:
				if le.Uint32(e[4:]) != IRQACPISCI || le.Uint16(e[8:]) != 0xD {
					t.Errorf("SCI override % x, want level, active high", e)
				}
			default:
				t.Errorf("unexpected override % x", e)
			}
		case 4:
			nmis++
			if n != 6 || e[2] != 0xFF || e[5] != 1 {
				t.Errorf("local APIC NMI % x", e)
			}
		default:
			t.Errorf("unexpected MADT entry type %d", typ)
		}
		off += n
	}
	if len(cpus) != ncpus || ioapics != 1 || isos != 2 || nmis != 1 {
		t.Errorf("MADT: %d CPUs, %d IOAPICs, %d overrides, %d NMIs; want %d, 1, 2, 1", len(cpus), ioapics, isos, nmis, ncpus)
	}
	for i, id := range cpus {
		if int(id) != i {
			t.Errorf("CPU %d has APIC ID %d", i, id)
		}
	}
}

func checkMPTable(t *testing.T, mem *guestmem.Memory, ncpus int) {
	t.Helper()
	le := binary.LittleEndian
	// Scan the BIOS ROM area on 16-byte boundaries, as Linux does.
	var fp []byte
	for a := uint64(0xF0000); a < 0x100000; a += 16 {
		b, _ := mem.Slice(a, 16)
		if string(b[:4]) == "_MP_" {
			fp = b
			break
		}
	}
	if fp == nil || sum(fp) != 0 || fp[8] != 1 || fp[9] != 4 {
		t.Fatalf("MP floating pointer % x", fp)
	}
	cfgAddr := uint64(le.Uint32(fp[4:]))
	hdr, _ := mem.Slice(cfgAddr, 44)
	cfg, _ := mem.Slice(cfgAddr, uint64(le.Uint16(hdr[4:])))
	if string(cfg[:4]) != "PCMP" || sum(cfg) != 0 || le.Uint32(cfg[36:]) != LAPICBase {
		t.Fatalf("MP config header % x", hdr)
	}
	var cpus, buses, ioapics, irqs int
	pins := map[byte]byte{}
	for off, n := 44, 0; n < int(le.Uint16(cfg[34:])); n++ {
		switch cfg[off] {
		case 0:
			cpus++
			if cfg[off+3]&1 == 0 || (cpus == 1) != (cfg[off+3]&2 != 0) {
				t.Errorf("processor entry flags %#x", cfg[off+3])
			}
			off += 20
		case 1:
			buses++
			if string(cfg[off+2:off+8]) != "ISA   " {
				t.Errorf("bus %q", cfg[off+2:off+8])
			}
			off += 8
		case 2:
			ioapics++
			if cfg[off+1] != byte(ncpus) || le.Uint32(cfg[off+4:]) != IOAPICBase {
				t.Error("MP IOAPIC entry wrong")
			}
			off += 8
		case 3:
			irqs++
			pins[cfg[off+5]] = cfg[off+7]
			off += 8
		case 4:
			off += 8
		default:
			t.Fatalf("unknown MP entry type %d", cfg[off])
		}
	}
	if cpus != ncpus || buses != 1 || ioapics != 1 || irqs != 15 || pins[0] != 2 || pins[4] != 4 || pins[12] != 12 {
		t.Errorf("MP table: %d CPUs %d buses %d IOAPICs %d IRQs, pins %v", cpus, buses, ioapics, irqs, pins)
	}
}

func TestAMLEncoding(t *testing.T) {
	if got := amlPkgLength(10); !bytes.Equal(got, []byte{11}) {
		t.Errorf("short PkgLength % x", got)
	}
	// 100 bytes of content + 2 bytes of PkgLength = 102 = 0x66: 0x40|6, 0x06.
	if got := amlPkgLength(100); !bytes.Equal(got, []byte{0x46, 0x06}) {
		t.Errorf("two-byte PkgLength % x", got)
	}
	// 5000 bytes need three: 5003 = 0x138B.
	if got := amlPkgLength(5000); !bytes.Equal(got, []byte{0x80 | 0xB, 0x38, 0x01}) {
		t.Errorf("PkgLength(5000) % x", got)
	}
	if got := amlNameString(`\_SB.PCI0`); !bytes.Equal(got, []byte("\\\x2e_SB_PCI0")) {
		t.Errorf("name % x", got)
	}
	if got := amlEISAID("PNP0A03"); got != 0x030AD041 {
		t.Errorf("EisaId(PNP0A03) = %#x", got)
	}
	for v, want := range map[uint64][]byte{0: {0}, 1: {1}, 5: {0x0A, 5}, 0x1234: {0x0B, 0x34, 0x12}} {
		if got := amlInteger(v); !bytes.Equal(got, want) {
			t.Errorf("integer %d = % x", v, got)
		}
	}
}

// TestDSDTDisassembles runs ACPICA's own disassembler over the DSDT when it is installed: the strictest check of
// the hand-written AML short of booting Linux.
func TestDSDTDisassembles(t *testing.T) {
	iasl, err := exec.LookPath("iasl")
	if err != nil {
		t.Skip("skipping: iasl (acpica-tools) is not installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "dsdt.dat")
	if err := os.WriteFile(bin, sdt("DSDT", 2, dsdtAML()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(iasl, "-d", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("iasl -d: %v\n%s", err, out)
	}
	dsl, err := os.ReadFile(filepath.Join(dir, "dsdt.dsl"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(dsl)
	for _, want := range []string{`Name (\_S5, Package (0x04)`, `Device (PCI0)`, `EisaId ("PNP0A03")`,
		`WordBusNumber`, `0xC0000000,         // Range Minimum`, `0xDFFFFFFF,         // Range Maximum`, `Device (COM1)`, `EisaId ("PNP0501")`,
		`IO (Decode16,`, `IRQNoFlags ()`, `{4}`, `Device (PS2K)`, `Device (RTC)`, `{12}`} {
		if !strings.Contains(text, want) {
			t.Errorf("disassembly lacks %q:\n%s", want, text)
		}
	}
}
