package x86

import (
	"math/bits"

	"paddock/engine/kvm"
)

// CPUModel chooses which of the host's CPU features a guest sees.
type CPUModel int

const (
	// HostModel passes through everything KVM supports.
	HostModel CPUModel = iota
	// Baseline hides what a software KVM cannot emulate in guest kernel mode: the XSAVE family and everything
	// that needs it (AVX, AVX2, AVX-512, FMA, F16C, AMX, PKU, CET), SMAP, POPCNT, CX16, RDRAND, RDSEED,
	// FSGSBASE, CLFLUSHOPT, CLWB, RDPID, ERMS, FSRM; leaf 0xD is zeroed.
	Baseline
)

func (m CPUModel) String() string {
	if m == Baseline {
		return "baseline"
	}
	return "host"
}

type cpuidReg int

const (
	regEAX cpuidReg = iota
	regEBX
	regECX
	regEDX
)

// hiddenBit is a feature the Baseline model clears.
type hiddenBit struct {
	leaf, sub uint32
	reg       cpuidReg
	bit       uint
	name      string
}

var baselineHidden = []hiddenBit{
	{1, 0, regECX, 12, "FMA"},
	{1, 0, regECX, 13, "CX16"}, // CMPXCHG16B: not emulated by a software KVM; Linux then avoids it
	{1, 0, regECX, 23, "POPCNT"},
	{1, 0, regECX, 26, "XSAVE"},
	{1, 0, regECX, 27, "OSXSAVE"},
	{1, 0, regECX, 28, "AVX"},
	{1, 0, regECX, 29, "F16C"},
	{1, 0, regECX, 30, "RDRAND"},
	{7, 0, regEBX, 0, "FSGSBASE"},
	{7, 0, regEBX, 5, "AVX2"},
	{7, 0, regEBX, 9, "ERMS"},
	{7, 0, regEBX, 16, "AVX512F"},
	{7, 0, regEBX, 17, "AVX512DQ"},
	{7, 0, regEBX, 18, "RDSEED"},
	{7, 0, regEBX, 20, "SMAP"},
	{7, 0, regEBX, 21, "AVX512IFMA"},
	{7, 0, regEBX, 23, "CLFLUSHOPT"},
	{7, 0, regEBX, 24, "CLWB"},
	{7, 0, regEBX, 26, "AVX512PF"},
	{7, 0, regEBX, 27, "AVX512ER"},
	{7, 0, regEBX, 28, "AVX512CD"},
	{7, 0, regEBX, 30, "AVX512BW"},
	{7, 0, regEBX, 31, "AVX512VL"},
	{7, 0, regECX, 1, "AVX512_VBMI"},
	{7, 0, regECX, 3, "PKU"},
	{7, 0, regECX, 4, "OSPKE"},
	{7, 0, regECX, 6, "AVX512_VBMI2"},
	{7, 0, regECX, 7, "CET_SS"},
	{7, 0, regECX, 9, "VAES"},
	{7, 0, regECX, 10, "VPCLMULQDQ"},
	{7, 0, regECX, 11, "AVX512_VNNI"},
	{7, 0, regECX, 12, "AVX512_BITALG"},
	{7, 0, regECX, 14, "AVX512_VPOPCNTDQ"},
	{7, 0, regECX, 22, "RDPID"},
	{7, 0, regEDX, 2, "AVX512_4VNNIW"},
	{7, 0, regEDX, 3, "AVX512_4FMAPS"},
	{7, 0, regEDX, 4, "FSRM"},
	{7, 0, regEDX, 8, "AVX512_VP2INTERSECT"},
	{7, 0, regEDX, 20, "CET_IBT"},
	{7, 0, regEDX, 22, "AMX_BF16"},
	{7, 0, regEDX, 23, "AVX512_FP16"},
	{7, 0, regEDX, 24, "AMX_TILE"},
	{7, 0, regEDX, 25, "AMX_INT8"},
	{7, 1, regEAX, 4, "AVX_VNNI"},
	{7, 1, regEAX, 5, "AVX512_BF16"},
	{7, 1, regEAX, 21, "AMX_FP16"},
	{7, 1, regEAX, 23, "AVX_IFMA"},
	{0x8000_0001, 0, regECX, 11, "XOP"},
	{0x8000_0001, 0, regECX, 16, "FMA4"},
}

// Feature bits GuestCPUID sets or reads.
const (
	leaf1ECXHypervisor = 1 << 31
	leaf1EDXHTT        = 1 << 28
	leaf7EBXERMS       = 1 << 9
	ext1ECXCmpLegacy   = 1 << 1
)

func regOf(e *kvm.CPUIDEntry, r cpuidReg) *uint32 {
	switch r {
	case regEAX:
		return &e.EAX
	case regEBX:
		return &e.EBX
	case regECX:
		return &e.ECX
	}
	return &e.EDX
}

// vendor reports the CPU vendor from leaf 0.
func vendorOf(entries []kvm.CPUIDEntry) (intel, amd bool) {
	for _, e := range entries {
		if e.Function != 0 {
			continue
		}
		var v [12]byte
		for i, r := range []uint32{e.EBX, e.EDX, e.ECX} {
			v[4*i], v[4*i+1], v[4*i+2], v[4*i+3] = byte(r), byte(r>>8), byte(r>>16), byte(r>>24)
		}
		s := string(v[:])
		return s == "GenuineIntel", s == "AuthenticAMD" || s == "HygonGenuine"
	}
	return false, false
}

// GuestCPUID builds the CPUID table for vCPU cpu of ncpus from what KVM supports: APIC IDs and a topology of
// ncpus cores in one socket with one thread each, the hypervisor bit, and for Baseline the hidden features.
// KVM's own leaves (0x40000000...) are kept as KVM reports them.
func GuestCPUID(supported []kvm.CPUIDEntry, cpu, ncpus int, model CPUModel) []kvm.CPUIDEntry {
	ncpus = max(ncpus, 1)
	cpu = min(max(cpu, 0), 255)
	apicID := uint32(cpu)
	coreBits := uint32(bits.Len(uint(ncpus - 1))) // bits of the APIC ID that number the core
	intel, amd := vendorOf(supported)

	out := make([]kvm.CPUIDEntry, 0, len(supported)+6)
	hasLeaf := map[uint32]bool{}
	for _, e := range supported {
		hasLeaf[e.Function] = true
		if e.Function == 0xB || e.Function == 0x1F {
			continue // rebuilt below
		}
		out = append(out, e)
	}
	for _, leaf := range []uint32{0xB, 0x1F} {
		if !hasLeaf[leaf] {
			continue
		}
		// Sub-leaf 0: the SMT level (one thread per core); 1: the core level; 2: the end of the list.
		out = append(out,
			kvm.CPUIDEntry{Function: leaf, Index: 0, Flags: kvm.CPUIDFlagSignificantIndex,
				EAX: 0, EBX: 1, ECX: 0 | 1<<8, EDX: apicID},
			kvm.CPUIDEntry{Function: leaf, Index: 1, Flags: kvm.CPUIDFlagSignificantIndex,
				EAX: coreBits, EBX: uint32(ncpus), ECX: 1 | 2<<8, EDX: apicID},
			kvm.CPUIDEntry{Function: leaf, Index: 2, Flags: kvm.CPUIDFlagSignificantIndex,
				EAX: 0, EBX: 0, ECX: 2, EDX: apicID})
	}

	for i := range out {
		e := &out[i]
		switch e.Function {
		case 1:
			e.EBX = e.EBX&0x0000_FFFF | uint32(min(ncpus, 255))<<16 | apicID<<24
			if ncpus > 1 {
				e.EDX |= leaf1EDXHTT
			} else {
				e.EDX &^= leaf1EDXHTT
			}
			e.ECX |= leaf1ECXHypervisor
		case 4:
			if !intel {
				break
			}
			// EAX[31:26]: cores per package - 1; EAX[25:14]: logical CPUs sharing this cache - 1.
			sharing := uint32(0)
			if level := (e.EAX >> 5) & 7; level >= 3 {
				sharing = uint32(ncpus - 1)
			}
			e.EAX = e.EAX&0x3FFF | min(sharing, 0xFFF)<<14 | min(uint32(ncpus-1), 63)<<26
		case 0x8000_0001:
			if amd {
				if ncpus > 1 {
					e.ECX |= ext1ECXCmpLegacy
				} else {
					e.ECX &^= ext1ECXCmpLegacy
				}
			}
		case 0x8000_0008:
			if amd {
				// ECX[7:0]: cores - 1; ECX[15:12]: APIC ID bits that number the core.
				e.ECX = e.ECX&^0xF0FF | uint32(ncpus-1)&0xFF | coreBits<<12
			}
		case 0x8000_001E:
			if amd {
				e.EAX = apicID      // extended APIC ID
				e.EBX = uint32(cpu) // compute unit (core) ID, one thread per unit
				e.ECX = 0           // node 0, one node per processor
			}
		}
	}
	if model == Baseline {
		applyBaseline(out)
	}
	return out
}

func applyBaseline(entries []kvm.CPUIDEntry) {
	for i := range entries {
		e := &entries[i]
		if e.Function == 0xD {
			e.EAX, e.EBX, e.ECX, e.EDX = 0, 0, 0, 0
			continue
		}
		for _, h := range baselineHidden {
			if e.Function == h.leaf && e.Index == h.sub {
				*regOf(e, h.reg) &^= 1 << h.bit
			}
		}
	}
}

// BaselineHidden lists the features the Baseline model hides, by name, for reports such as "paddock doctor".
func BaselineHidden() []string {
	names := make([]string, len(baselineHidden))
	for i, h := range baselineHidden {
		names[i] = h.name
	}
	return names
}
