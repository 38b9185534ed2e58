package x86

import (
	"encoding/binary"
	"fmt"

	"paddock/engine/guestmem"
)

// hvm_start_info and friends (xen/include/public/arch-x86/hvm/start_info.h).
const (
	pvhMagic        = 0x336E_C578
	pvhVersion      = 1
	pvhStartSize    = 56
	pvhModlistOff   = 0x40 // from PVHStartInfo
	pvhModEntrySize = 32
	pvhMemmapOff    = 0x80
	pvhMemmapEntry  = 24
	pvhMemmapMax    = (ZeroPageAddr - PVHStartInfo - pvhMemmapOff) / pvhMemmapEntry
)

func writePVHStartInfo(mem *guestmem.Memory, info BootInfo, e820 []E820Entry, rsdp uint64) error {
	if len(e820) > pvhMemmapMax {
		return fmt.Errorf("write PVH start info: %d memory map entries, room for %d", len(e820), pvhMemmapMax)
	}
	buf := make([]byte, ZeroPageAddr-PVHStartInfo)
	le := binary.LittleEndian
	le.PutUint32(buf[0:], pvhMagic)
	le.PutUint32(buf[4:], pvhVersion)
	if info.InitrdSize > 0 {
		le.PutUint32(buf[12:], 1)
		le.PutUint64(buf[16:], PVHStartInfo+pvhModlistOff)
		mod := buf[pvhModlistOff:]
		le.PutUint64(mod[0:], info.InitrdAddr)
		le.PutUint64(mod[8:], info.InitrdSize)
	}
	le.PutUint64(buf[24:], info.Cmdline)
	le.PutUint64(buf[32:], rsdp)
	le.PutUint64(buf[40:], PVHStartInfo+pvhMemmapOff)
	le.PutUint32(buf[48:], uint32(len(e820)))
	for i, e := range e820 {
		o := pvhMemmapOff + i*pvhMemmapEntry
		le.PutUint64(buf[o:], e.Addr)
		le.PutUint64(buf[o+8:], e.Size)
		le.PutUint32(buf[o+16:], e.Type)
	}
	if err := mem.Write(PVHStartInfo, buf); err != nil {
		return fmt.Errorf("write PVH start info: %w", err)
	}
	return nil
}
