package x86

import (
	"encoding/binary"
	"fmt"
)

// SleepTypeS5 is the SLP_TYP value \_S5 gives: the guest writes it, with SLP_EN, to PM1a_CNT to power off.
const SleepTypeS5 = 5

const (
	acpiOEMID      = "PADDCK"
	acpiOEMTableID = "PADDOCK "
	acpiCreatorID  = "PDCK"
	sdtHeaderSize  = 36
	rsdpSize       = 36
	fadtSize       = 276
	facsSize       = 64
)

// checksum returns the byte that makes b sum to zero.
func checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return -s
}

// sdt builds a table with a standard header around body and sets its checksum.
func sdt(sig string, rev byte, body []byte) []byte {
	t := make([]byte, sdtHeaderSize, sdtHeaderSize+len(body))
	copy(t[0:4], sig)
	binary.LittleEndian.PutUint32(t[4:], uint32(sdtHeaderSize+len(body)))
	t[8] = rev
	copy(t[10:16], acpiOEMID)
	copy(t[16:24], acpiOEMTableID)
	binary.LittleEndian.PutUint32(t[24:], 1)
	copy(t[28:32], acpiCreatorID)
	binary.LittleEndian.PutUint32(t[32:], 1)
	t = append(t, body...)
	t[9] = checksum(t)
	return t
}

func rsdp(rsdt, xsdt uint64) []byte {
	b := make([]byte, rsdpSize)
	copy(b[0:8], "RSD PTR ")
	copy(b[9:15], acpiOEMID)
	b[15] = 2 // ACPI 2.0+
	binary.LittleEndian.PutUint32(b[16:], uint32(rsdt))
	binary.LittleEndian.PutUint32(b[20:], rsdpSize)
	binary.LittleEndian.PutUint64(b[24:], xsdt)
	b[8] = checksum(b[:20])
	b[32] = checksum(b)
	return b
}

// gas is a Generic Address Structure for system I/O.
func gasIO(addr uint64, bitWidth byte) []byte {
	b := []byte{1, bitWidth, 0, 0}
	return binary.LittleEndian.AppendUint64(b, addr)
}

// FADT flags (ACPI 6.x, table 5.10).
const (
	fadtWBINVD    = 1 << 0
	fadtProcC1    = 1 << 2
	fadtSlpButton = 1 << 5 // no fixed-feature sleep button
	fadtFixRTC    = 1 << 6 // RTC wake status not in PM1
	// IA-PC boot architecture flags.
	bootArchLegacyDevices = 1 << 0
	bootArch8042          = 1 << 1
	bootArchNoVGA         = 1 << 2
)

func fadt(facs, dsdt uint64) []byte {
	b := make([]byte, fadtSize-sdtHeaderSize)
	le := binary.LittleEndian
	at := func(off int) []byte { return b[off-sdtHeaderSize:] }
	// FIRMWARE_CTRL (36) stays 0: X_FIRMWARE_CTRL below points at the FACS, and ACPI says only one of them may.
	le.PutUint32(at(40), uint32(dsdt))
	at(45)[0] = 1 // preferred PM profile: desktop
	le.PutUint16(at(46), IRQACPISCI)
	// SMI_CMD (48) stays 0: there is no SMM, ACPI mode is always on.
	le.PutUint32(at(56), PortACPIPM1aEvent)
	le.PutUint32(at(64), PortACPIPM1aControl)
	at(88)[0] = 4              // PM1_EVT_LEN
	at(89)[0] = 2              // PM1_CNT_LEN
	le.PutUint16(at(96), 101)  // P_LVL2_LAT > 100: no C2
	le.PutUint16(at(98), 1001) // P_LVL3_LAT > 1000: no C3
	le.PutUint16(at(109), bootArchLegacyDevices|bootArch8042|bootArchNoVGA)
	le.PutUint32(at(112), fadtWBINVD|fadtProcC1|fadtSlpButton|fadtFixRTC)
	at(131)[0] = 5 // FADT minor version: ACPI 6.5
	le.PutUint64(at(132), facs)
	le.PutUint64(at(140), dsdt)
	copy(at(148), gasIO(PortACPIPM1aEvent, 32))
	copy(at(172), gasIO(PortACPIPM1aControl, 16))
	copy(at(268), "PADDOCK\x00") // hypervisor vendor identity
	return sdt("FACP", 6, b)
}

func facs() []byte {
	b := make([]byte, facsSize)
	copy(b[0:4], "FACS")
	binary.LittleEndian.PutUint32(b[4:], facsSize)
	b[32] = 2 // version
	return b
}

// dsdtAML is the DSDT's definition block: \_S5, the PCI root bridge (so Linux scans bus 0 through 0xCF8), and the
// legacy devices with their resources (so Linux need not probe for them).
func dsdtAML() []byte {
	hid := func(id string) []byte { return amlName("_HID", amlInteger(uint64(amlEISAID(id)))) }
	crs := func(descs ...[]byte) []byte { return amlName("_CRS", resourceTemplate(descs...)) }
	return concat(
		amlName(`\_S5`, amlPackage(amlInteger(SleepTypeS5), amlInteger(SleepTypeS5), amlInteger(0), amlInteger(0))),
		amlScope(`\_SB`,
			amlDevice("PCI0",
				hid("PNP0A03"),
				amlName("_ADR", amlInteger(0)),
				amlName("_UID", amlInteger(0)),
				amlName("_BBN", amlInteger(0)),
				crs(
					resWordAddr(2, 0, 0, 0xFF),
					resIO(PortPCIConfig, 8),
					resWordAddr(1, 3, 0, PortPCIConfig-1),
					resWordAddr(1, 3, PortPCIConfig+8, 0xFFFF),
					resDWordMemory(PCIMMIOStart, PCIMMIOEnd-1),
				),
			),
			amlDevice("COM1", hid("PNP0501"), amlName("_UID", amlInteger(1)),
				crs(resIO(PortCOM1, 8), resIRQ(IRQCOM1))),
			amlDevice("PS2K", hid("PNP0303"),
				crs(resIO(PortI8042, 1), resIO(PortI8042+4, 1), resIRQ(IRQKeyboard))),
			amlDevice("PS2M", hid("PNP0F13"), crs(resIRQ(IRQMouse))),
			amlDevice("RTC", hid("PNP0B00"), crs(resIO(PortRTC, 2), resIRQ(IRQRTC))),
		),
	)
}

// MADT entry types and flags.
const (
	madtLocalAPIC    = 0
	madtIOAPIC       = 1
	madtISO          = 2
	madtLocalAPICNMI = 4
	madtPCATCompat   = 1
	// MPS INTI flags: polarity bits 0-1, trigger bits 2-3.
	intiActiveHigh = 1
	intiLevel      = 3 << 2
)

func madt(ncpus int) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, LAPICBase)
	b = le.AppendUint32(b, madtPCATCompat)
	for i := 0; i < ncpus; i++ {
		b = append(b, madtLocalAPIC, 8, byte(i), byte(i))
		b = le.AppendUint32(b, 1) // enabled
	}
	b = append(b, madtIOAPIC, 12, byte(ncpus), 0)
	b = le.AppendUint32(b, IOAPICBase)
	b = le.AppendUint32(b, 0) // GSI base
	iso := func(src byte, gsi uint32, flags uint16) {
		b = append(b, madtISO, 10, 0, src)
		b = le.AppendUint32(b, gsi)
		b = le.AppendUint16(b, flags)
	}
	iso(0, 2, 0)
	iso(IRQACPISCI, IRQACPISCI, intiActiveHigh|intiLevel)
	b = append(b, madtLocalAPICNMI, 6, 0xFF, 0, 0, 1) // all processors, conforming flags, LINT1
	return sdt("APIC", 5, b)
}

// acpiTables lays out the ACPI tables from base and returns the bytes to write there and the RSDP's address
// (base itself).
func acpiTables(base uint64, ncpus int) ([]byte, error) {
	var img []byte
	place := func(t []byte, align int) uint64 {
		for len(img)%align != 0 {
			img = append(img, 0)
		}
		addr := base + uint64(len(img))
		img = append(img, t...)
		return addr
	}
	// RSDP first, its pointers patched once the tables have addresses.
	place(make([]byte, rsdpSize), 16)
	facsAddr := place(facs(), 64)
	dsdtAddr := place(sdt("DSDT", 2, dsdtAML()), 16)
	fadtAddr := place(fadt(facsAddr, dsdtAddr), 16)
	madtAddr := place(madt(ncpus), 16)
	le := binary.LittleEndian
	var r, x []byte
	for _, a := range []uint64{fadtAddr, madtAddr} {
		r = le.AppendUint32(r, uint32(a))
		x = le.AppendUint64(x, a)
	}
	rsdtAddr := place(sdt("RSDT", 1, r), 16)
	xsdtAddr := place(sdt("XSDT", 1, x), 16)
	copy(img, rsdp(rsdtAddr, xsdtAddr))
	if uint64(len(img)) > mpTableBase-base {
		return nil, fmt.Errorf("ACPI tables for %d CPUs need %d bytes, more than the %d reserved", ncpus, len(img), mpTableBase-base)
	}
	return img, nil
}
