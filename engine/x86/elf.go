package x86

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// errNotELF prefixes every complaint about an ELF file Paddock cannot boot.
var errNotELF = errors.New("not a bootable x86-64 ELF vmlinux")

const (
	elfHeaderSize  = 64
	elfPhdrSize    = 56
	elfMaxPhdrs    = 64 // vmlinux has a handful; anything far beyond is hostile
	elfClass64     = 2
	elfDataLSB     = 1
	elfMachineX64  = 62
	elfTypeExec    = 2
	elfTypeDyn     = 3
	ptLoad         = 1
	ptNote         = 4
	xenPhys32Entry = 18 // XEN_ELFNOTE_PHYS32_ENTRY
)

// ELFSegment is one PT_LOAD segment: FileSize bytes from Offset in the file, at physical address PAddr, followed
// by zeroes up to MemSize.
type ELFSegment struct {
	Offset   uint64
	PAddr    uint64
	FileSize uint64
	MemSize  uint64
}

// ELFImage is what Paddock needs from a vmlinux.
type ELFImage struct {
	Entry    uint64 // e_entry: the 64-bit entry point (a physical address for vmlinux)
	PVHEntry uint32 // the 32-bit PVH entry from the Xen note; valid when HasPVH
	HasPVH   bool
	Segments []ELFSegment
}

func notELF(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errNotELF, fmt.Sprintf(format, args...))
}

// isELF says whether data starts with the ELF magic.
func isELF(data []byte) bool {
	return len(data) >= 4 && data[0] == 0x7F && data[1] == 'E' && data[2] == 'L' && data[3] == 'F'
}

// ParseELF validates an x86-64 ELF kernel and lists its loadable segments and PVH entry. Every offset and size is
// checked against the file; it never panics on hostile input.
func ParseELF(data []byte) (ELFImage, error) {
	var img ELFImage
	if len(data) < elfHeaderSize || !isELF(data) {
		return img, notELF("no ELF header")
	}
	if data[4] != elfClass64 || data[5] != elfDataLSB {
		return img, notELF("not a little-endian ELF64 file")
	}
	le := binary.LittleEndian
	if t := le.Uint16(data[16:]); t != elfTypeExec && t != elfTypeDyn {
		return img, notELF("ELF type %d is not an executable", t)
	}
	if m := le.Uint16(data[18:]); m != elfMachineX64 {
		return img, notELF("machine %d is not x86-64", m)
	}
	img.Entry = le.Uint64(data[24:])
	phoff := le.Uint64(data[32:])
	phentsize := uint64(le.Uint16(data[54:]))
	phnum := uint64(le.Uint16(data[56:]))
	if phnum == 0 || phnum > elfMaxPhdrs {
		return img, notELF("%d program headers", phnum)
	}
	if phentsize < elfPhdrSize {
		return img, notELF("program header entries of %d bytes", phentsize)
	}
	if phoff > uint64(len(data)) || phentsize*phnum > uint64(len(data))-phoff {
		return img, notELF("program headers lie outside the file")
	}
	for i := uint64(0); i < phnum; i++ {
		ph := data[phoff+i*phentsize:]
		typ := le.Uint32(ph[0:])
		off := le.Uint64(ph[8:])
		paddr := le.Uint64(ph[24:])
		filesz := le.Uint64(ph[32:])
		memsz := le.Uint64(ph[40:])
		align := le.Uint64(ph[48:])
		if off > uint64(len(data)) || filesz > uint64(len(data))-off {
			return img, notELF("segment %d lies outside the file", i)
		}
		switch typ {
		case ptLoad:
			if filesz > memsz {
				return img, notELF("segment %d has file size %#x above memory size %#x", i, filesz, memsz)
			}
			if paddr+memsz < paddr {
				return img, notELF("segment %d wraps the address space", i)
			}
			if memsz > 0 {
				img.Segments = append(img.Segments, ELFSegment{Offset: off, PAddr: paddr, FileSize: filesz, MemSize: memsz})
			}
		case ptNote:
			if entry, ok := findPVHEntry(data[off:off+filesz], align); ok {
				img.PVHEntry, img.HasPVH = entry, true
			}
		}
	}
	if len(img.Segments) == 0 {
		return img, notELF("no loadable segments")
	}
	return img, nil
}

// findPVHEntry walks the notes in one PT_NOTE segment looking for Xen's PHYS32_ENTRY.
func findPVHEntry(notes []byte, align uint64) (uint32, bool) {
	pad := uint64(4)
	if align == 8 {
		pad = 8
	}
	round := func(n uint64) uint64 { return (n + pad - 1) &^ (pad - 1) }
	le := binary.LittleEndian
	for len(notes) >= 12 {
		namesz := uint64(le.Uint32(notes[0:]))
		descsz := uint64(le.Uint32(notes[4:]))
		typ := le.Uint32(notes[8:])
		rest := uint64(len(notes)) - 12
		nameLen, descLen := round(namesz), round(descsz)
		if nameLen > rest || descLen > rest-nameLen {
			return 0, false
		}
		name := notes[12 : 12+namesz]
		desc := notes[12+nameLen : 12+nameLen+descsz]
		if typ == xenPhys32Entry && string(name) == "Xen\x00" && len(desc) >= 4 {
			// Linux writes the entry as a 64-bit value; it must still be a 32-bit address.
			if len(desc) >= 8 && le.Uint32(desc[4:]) != 0 {
				return 0, false
			}
			return le.Uint32(desc), true
		}
		notes = notes[12+nameLen+descLen:]
	}
	return 0, false
}

// CheckKernel says whether data is a kernel LoadKernel can boot (a bzImage or an ELF vmlinux), without loading it.
func CheckKernel(data []byte) error {
	if isELF(data) {
		_, err := ParseELF(data)
		return err
	}
	_, err := ParseBzImage(data)
	return err
}
