package x86

import "encoding/binary"

// A tiny AML encoder (ACPI 6.x, chapter 20): just what the DSDT needs. Every function returns encoded bytes.

const (
	amlZeroOp       = 0x00
	amlOneOp        = 0x01
	amlNameOp       = 0x08
	amlBytePrefix   = 0x0A
	amlWordPrefix   = 0x0B
	amlDWordPrefix  = 0x0C
	amlQWordPrefix  = 0x0E
	amlScopeOp      = 0x10
	amlBufferOp     = 0x11
	amlPackageOp    = 0x12
	amlDualNamePfx  = 0x2E
	amlMultiNamePfx = 0x2F
	amlRootChar     = '\\'
	amlExtOpPrefix  = 0x5B
	amlDeviceOp     = 0x82
)

// amlPkgLength encodes a PkgLength for n bytes of content; the encoded length counts its own bytes.
func amlPkgLength(n int) []byte {
	if n+1 < 1<<6 {
		return []byte{byte(n + 1)}
	}
	for extra := 1; extra <= 3; extra++ {
		total := n + 1 + extra
		if total < 1<<(4+8*extra) {
			b := make([]byte, 1+extra)
			b[0] = byte(extra<<6) | byte(total&0xF)
			for i := 1; i <= extra; i++ {
				b[i] = byte(total >> (4 + 8*(i-1)))
			}
			return b
		}
	}
	return nil // over 256 MiB: never built here
}

// amlNameString encodes a path such as `\_SB_.PCI0` or `_HID`; segments shorter than four are padded with '_'.
func amlNameString(path string) []byte {
	var out []byte
	if len(path) > 0 && path[0] == amlRootChar {
		out = append(out, amlRootChar)
		path = path[1:]
	}
	var segs [][]byte
	for len(path) > 0 {
		seg := path
		if i := indexByte(path, '.'); i >= 0 {
			seg, path = path[:i], path[i+1:]
		} else {
			path = ""
		}
		s := []byte("____")
		copy(s, seg)
		segs = append(segs, s[:4])
	}
	switch len(segs) {
	case 0:
		out = append(out, 0) // NullName
	case 1:
		out = append(out, segs[0]...)
	case 2:
		out = append(out, amlDualNamePfx)
		out = append(append(out, segs[0]...), segs[1]...)
	default:
		out = append(out, amlMultiNamePfx, byte(len(segs)))
		for _, s := range segs {
			out = append(out, s...)
		}
	}
	return out
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// amlInteger encodes the shortest integer constant for v.
func amlInteger(v uint64) []byte {
	switch {
	case v == 0:
		return []byte{amlZeroOp}
	case v == 1:
		return []byte{amlOneOp}
	case v <= 0xFF:
		return []byte{amlBytePrefix, byte(v)}
	case v <= 0xFFFF:
		return binary.LittleEndian.AppendUint16([]byte{amlWordPrefix}, uint16(v))
	case v <= 0xFFFF_FFFF:
		return binary.LittleEndian.AppendUint32([]byte{amlDWordPrefix}, uint32(v))
	}
	return binary.LittleEndian.AppendUint64([]byte{amlQWordPrefix}, v)
}

// amlName is Name(name, value).
func amlName(name string, value []byte) []byte {
	return append(append([]byte{amlNameOp}, amlNameString(name)...), value...)
}

func amlWithPkg(op []byte, body []byte) []byte {
	out := append(op, amlPkgLength(len(body))...)
	return append(out, body...)
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// amlPackage is Package(n){elems...}.
func amlPackage(elems ...[]byte) []byte {
	return amlWithPkg([]byte{amlPackageOp}, append([]byte{byte(len(elems))}, concat(elems...)...))
}

// amlBuffer is Buffer(len(data)){data}.
func amlBuffer(data []byte) []byte {
	return amlWithPkg([]byte{amlBufferOp}, append(amlInteger(uint64(len(data))), data...))
}

// amlScope is Scope(name){body...}.
func amlScope(name string, body ...[]byte) []byte {
	return amlWithPkg([]byte{amlScopeOp}, append(amlNameString(name), concat(body...)...))
}

// amlDevice is Device(name){body...}.
func amlDevice(name string, body ...[]byte) []byte {
	return amlWithPkg([]byte{amlExtOpPrefix, amlDeviceOp}, append(amlNameString(name), concat(body...)...))
}

// amlEISAID compresses a PNP ID such as "PNP0A03" as EisaId() does.
func amlEISAID(id string) uint32 {
	if len(id) != 7 {
		return 0
	}
	hex := func(c byte) uint32 {
		switch {
		case c >= '0' && c <= '9':
			return uint32(c - '0')
		case c >= 'A' && c <= 'F':
			return uint32(c-'A') + 10
		}
		return 0
	}
	v := (uint32(id[0]-'@')&0x1F)<<26 | (uint32(id[1]-'@')&0x1F)<<21 | (uint32(id[2]-'@')&0x1F)<<16 |
		hex(id[3])<<12 | hex(id[4])<<8 | hex(id[5])<<4 | hex(id[6])
	// EisaId stores the 32-bit value big-endian.
	return v>>24 | (v>>8)&0xFF00 | (v<<8)&0xFF0000 | v<<24
}

// Resource-template descriptors (ACPI 6.x, 6.4).

func resIO(base uint16, length uint8) []byte {
	return []byte{0x47, 0x01, byte(base), byte(base >> 8), byte(base), byte(base >> 8), 1, length}
}

func resIRQ(irq uint) []byte {
	mask := uint16(1) << irq
	return []byte{0x22, byte(mask), byte(mask >> 8)}
}

// resWordAddr is a Word Address Space Descriptor: kind 1 I/O, 2 bus numbers; producer, min and max fixed.
func resWordAddr(kind, typeFlags byte, lo, hi uint16) []byte {
	b := []byte{0x88, 13, 0, kind, 0x0C, typeFlags}
	for _, v := range []uint16{0, lo, hi, 0, hi - lo + 1} {
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	return b
}

// resDWordMemory is a DWord Memory descriptor: producer, min and max fixed, read-write, not cacheable.
func resDWordMemory(lo, hi uint32) []byte {
	b := []byte{0x87, 23, 0, 0, 0x0C, 0x01}
	for _, v := range []uint32{0, lo, hi, 0, hi - lo + 1} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

func resourceTemplate(descs ...[]byte) []byte {
	return amlBuffer(append(concat(descs...), 0x79, 0x00)) // End Tag, checksum 0 (none)
}
