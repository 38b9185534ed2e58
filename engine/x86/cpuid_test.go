package x86

import (
	"testing"

	"paddock/engine/kvm"
)

func vendorRegs(v string) (ebx, edx, ecx uint32) {
	w := func(s string) uint32 { return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24 }
	return w(v[0:4]), w(v[4:8]), w(v[8:12])
}

// syntheticCPUID is a supported list with every feature bit set, for a vendor.
func syntheticCPUID(vendor string) []kvm.CPUIDEntry {
	b, d, c := vendorRegs(vendor)
	all := ^uint32(0)
	return []kvm.CPUIDEntry{
		{Function: 0, EAX: 0x1F, EBX: b, ECX: c, EDX: d},
		{Function: 1, EAX: 0x806C1, EBX: 0xFF_FF_08_00, ECX: all &^ (1 << 31), EDX: all &^ leaf1EDXHTT},
		{Function: 4, Index: 0, Flags: 1, EAX: 1<<5 | 1}, // L1 data
		{Function: 4, Index: 3, Flags: 1, EAX: 3<<5 | 3}, // L3 unified
		{Function: 7, Index: 0, Flags: 1, EAX: 1, EBX: all, ECX: all, EDX: all},
		{Function: 7, Index: 1, Flags: 1, EAX: all},
		{Function: 0xB, Index: 0, Flags: 1, EAX: 1, EBX: 2, ECX: 0x100, EDX: 7},
		{Function: 0xD, Index: 0, Flags: 1, EAX: 0x2E7, EBX: 0xA88, ECX: 0xA88},
		{Function: 0xD, Index: 1, Flags: 1, EAX: 0xF},
		{Function: 0x1F, Index: 0, Flags: 1, EAX: 1, EBX: 2, ECX: 0x100, EDX: 7},
		{Function: 0x4000_0000, EAX: 0x4000_0001, EBX: 0x4B4D564B, ECX: 0x564B4D56, EDX: 0x4D},
		{Function: 0x4000_0001, EAX: 0x01_00_7F_FB},
		{Function: 0x8000_0001, ECX: all, EDX: all},
		{Function: 0x8000_0008, EAX: 0x3030, ECX: 0xFFFF_FFFF},
		{Function: 0x8000_001E, EAX: 9, EBX: 0x109, ECX: 0x301},
	}
}

func find(t *testing.T, es []kvm.CPUIDEntry, fn, idx uint32) kvm.CPUIDEntry {
	t.Helper()
	for _, e := range es {
		if e.Function == fn && e.Index == idx {
			return e
		}
	}
	t.Fatalf("leaf %#x.%d missing", fn, idx)
	return kvm.CPUIDEntry{}
}

func TestCPUIDTopologyIntel(t *testing.T) {
	sup := syntheticCPUID("GenuineIntel")
	es := GuestCPUID(sup, 5, 6, HostModel)
	l1 := find(t, es, 1, 0)
	if l1.EBX>>24 != 5 || (l1.EBX>>16)&0xFF != 6 || (l1.EBX>>8)&0xFF != 8 {
		t.Errorf("leaf 1 EBX %#x: want APIC ID 5, 6 logical CPUs, CLFLUSH size kept", l1.EBX)
	}
	if l1.EDX&leaf1EDXHTT == 0 || l1.ECX&leaf1ECXHypervisor == 0 {
		t.Errorf("leaf 1: HTT %v hypervisor %v", l1.EDX&leaf1EDXHTT != 0, l1.ECX&leaf1ECXHypervisor != 0)
	}
	if l1.ECX&(1<<26) == 0 {
		t.Error("the host model hid XSAVE")
	}
	for _, leaf := range []uint32{0xB, 0x1F} {
		smt, core, end := find(t, es, leaf, 0), find(t, es, leaf, 1), find(t, es, leaf, 2)
		if smt.EAX != 0 || smt.EBX != 1 || smt.ECX != 0x100 || smt.EDX != 5 {
			t.Errorf("leaf %#x.0 = %+v: want SMT level, 1 thread, x2APIC ID 5", leaf, smt)
		}
		if core.EAX != 3 || core.EBX != 6 || core.ECX != 0x201 || core.EDX != 5 {
			t.Errorf("leaf %#x.1 = %+v: want core level, shift 3, 6 CPUs", leaf, core)
		}
		if end.ECX>>8&0xFF != 0 || end.EBX != 0 {
			t.Errorf("leaf %#x.2 = %+v: want the invalid level that ends the list", leaf, end)
		}
		n := 0
		for _, e := range es {
			if e.Function == leaf {
				n++
			}
		}
		if n != 3 {
			t.Errorf("leaf %#x has %d sub-leaves, want 3 (KVM's own replaced)", leaf, n)
		}
	}
	if l := find(t, es, 4, 0); l.EAX>>26 != 5 || (l.EAX>>14)&0xFFF != 0 || l.EAX&0x3FFF != 1<<5|1 {
		t.Errorf("leaf 4.0 EAX %#x: want 6 cores, L1 private", l.EAX)
	}
	if l := find(t, es, 4, 3); l.EAX>>26 != 5 || (l.EAX>>14)&0xFFF != 5 {
		t.Errorf("leaf 4.3 EAX %#x: want L3 shared by 6", l.EAX)
	}
	if l := find(t, es, 0x8000_0008, 0); l.ECX != 0xFFFF_FFFF {
		t.Errorf("AMD core count written on Intel: %#x", l.ECX)
	}
	if l := find(t, es, 0x4000_0001, 0); l.EAX != 0x01_00_7F_FB {
		t.Error("KVM leaf changed")
	}
	// A single vCPU has no HTT.
	if l := find(t, GuestCPUID(sup, 0, 1, HostModel), 1, 0); l.EDX&leaf1EDXHTT != 0 || (l.EBX>>16)&0xFF != 1 || l.EBX>>24 != 0 {
		t.Errorf("1 vCPU: leaf 1 EBX %#x EDX %#x", l.EBX, l.EDX)
	}
	// The caller's slice is not modified.
	if sup[1].ECX&leaf1ECXHypervisor != 0 {
		t.Error("GuestCPUID wrote into the supported list")
	}
}

func TestCPUIDTopologyAMD(t *testing.T) {
	es := GuestCPUID(syntheticCPUID("AuthenticAMD"), 2, 4, HostModel)
	if l := find(t, es, 0x8000_0008, 0); l.ECX&0xFF != 3 || (l.ECX>>12)&0xF != 2 {
		t.Errorf("0x80000008 ECX %#x: want 4 cores, 2 APIC ID bits", l.ECX)
	}
	if l := find(t, es, 0x8000_001E, 0); l.EAX != 2 || l.EBX != 2 || l.ECX != 0 {
		t.Errorf("0x8000001E %+v", l)
	}
	if l := find(t, es, 0x8000_0001, 0); l.ECX&ext1ECXCmpLegacy == 0 {
		t.Error("CmpLegacy clear with 4 cores")
	}
	if l := find(t, es, 4, 0); l.EAX != 1<<5|1 {
		t.Errorf("Intel leaf 4 changed on AMD: %#x", l.EAX)
	}
}

func TestCPUIDBaseline(t *testing.T) {
	sup := syntheticCPUID("GenuineIntel")
	es := GuestCPUID(sup, 0, 2, Baseline)
	for _, h := range baselineHidden {
		e := find(t, es, h.leaf, h.sub)
		if *regOf(&e, h.reg)&(1<<h.bit) != 0 {
			t.Errorf("baseline shows %s (leaf %#x.%d bit %d)", h.name, h.leaf, h.sub, h.bit)
		}
	}
	want := map[string][3]uint32{ // leaf, register, bit, for features that must be hidden whatever the table says
		"XSAVE": {1, uint32(regECX), 26}, "OSXSAVE": {1, uint32(regECX), 27}, "AVX": {1, uint32(regECX), 28},
		"POPCNT": {1, uint32(regECX), 23}, "RDRAND": {1, uint32(regECX), 30}, "FMA": {1, uint32(regECX), 12},
		"F16C": {1, uint32(regECX), 29}, "AVX2": {7, uint32(regEBX), 5}, "AVX512F": {7, uint32(regEBX), 16},
		"SMAP": {7, uint32(regEBX), 20}, "RDSEED": {7, uint32(regEBX), 18}, "FSGSBASE": {7, uint32(regEBX), 0},
		"CLFLUSHOPT": {7, uint32(regEBX), 23}, "CLWB": {7, uint32(regEBX), 24}, "ERMS": {7, uint32(regEBX), 9},
		"RDPID": {7, uint32(regECX), 22}, "FSRM": {7, uint32(regEDX), 4},
	}
	for name, w := range want {
		e := find(t, es, w[0], 0)
		if *regOf(&e, cpuidReg(w[1]))&(1<<w[2]) != 0 {
			t.Errorf("baseline shows %s", name)
		}
	}
	for _, e := range es {
		if e.Function == 0xD && (e.EAX|e.EBX|e.ECX|e.EDX) != 0 {
			t.Errorf("leaf 0xD.%d not zeroed: %+v", e.Index, e)
		}
	}
	// Kept: SSE4.2 (leaf 1 ECX 20), SMEP (leaf 7 EBX 7), the hypervisor bit, APIC ID.
	l1, l7 := find(t, es, 1, 0), find(t, es, 7, 0)
	if l1.ECX&(1<<20) == 0 || l7.EBX&(1<<7) == 0 || l1.ECX&leaf1ECXHypervisor == 0 {
		t.Error("baseline hid more than it should")
	}
	// ERMS hidden means no fast-string enable in IA32_MISC_ENABLE; shown means set.
	if m := msrValue(t, BootMSRs(es), MSRMiscEnable); m&miscEnableFastStr != 0 {
		t.Error("fast strings enabled without ERMS")
	}
	if m := msrValue(t, BootMSRs(GuestCPUID(sup, 0, 2, HostModel)), MSRMiscEnable); m&miscEnableFastStr == 0 {
		t.Error("fast strings not enabled with ERMS")
	}
}

func msrValue(t *testing.T, msrs []kvm.MSR, idx uint32) uint64 {
	t.Helper()
	for _, m := range msrs {
		if m.Index == idx {
			return m.Data
		}
	}
	t.Fatalf("MSR %#x missing", idx)
	return 0
}

func TestBootMSRs(t *testing.T) {
	msrs := BootMSRs(nil)
	if v := msrValue(t, msrs, MSRMTRRDefType); v != 0x806 {
		t.Errorf("MTRRdefType %#x, want enabled write-back 0x806", v)
	}
	for _, idx := range []uint32{MSRTSC, MSRSysenterCS, MSRSysenterESP, MSRSysenterEIP, MSRLSTAR} {
		if msrValue(t, msrs, idx) != 0 {
			t.Errorf("MSR %#x not zero", idx)
		}
	}
}
