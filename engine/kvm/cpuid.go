package kvm

import "encoding/binary"

const cpuidEntrySize = 40

// CPUIDEntry mirrors struct kvm_cpuid_entry2.
type CPUIDEntry struct {
	Function uint32
	Index    uint32
	Flags    uint32
	EAX      uint32
	EBX      uint32
	ECX      uint32
	EDX      uint32
}

// CPUIDFlagSignificantIndex marks leaves whose sub-leaf (ECX input) matters.
const CPUIDFlagSignificantIndex = 1

func putU32(b []byte, v uint32) { binary.LittleEndian.PutUint32(b, v) }

func decodeCPUID(buf []byte) []CPUIDEntry {
	n := int(binary.LittleEndian.Uint32(buf))
	if max := (len(buf) - 8) / cpuidEntrySize; n > max {
		n = max
	}
	out := make([]CPUIDEntry, n)
	for i := range out {
		b := buf[8+i*cpuidEntrySize:]
		out[i] = CPUIDEntry{
			Function: binary.LittleEndian.Uint32(b[0:]),
			Index:    binary.LittleEndian.Uint32(b[4:]),
			Flags:    binary.LittleEndian.Uint32(b[8:]),
			EAX:      binary.LittleEndian.Uint32(b[12:]),
			EBX:      binary.LittleEndian.Uint32(b[16:]),
			ECX:      binary.LittleEndian.Uint32(b[20:]),
			EDX:      binary.LittleEndian.Uint32(b[24:]),
		}
	}
	return out
}

func encodeCPUID(entries []CPUIDEntry) []byte {
	buf := make([]byte, 8+len(entries)*cpuidEntrySize)
	putU32(buf, uint32(len(entries)))
	for i, e := range entries {
		b := buf[8+i*cpuidEntrySize:]
		putU32(b[0:], e.Function)
		putU32(b[4:], e.Index)
		putU32(b[8:], e.Flags)
		putU32(b[12:], e.EAX)
		putU32(b[16:], e.EBX)
		putU32(b[20:], e.ECX)
		putU32(b[24:], e.EDX)
	}
	return buf
}
