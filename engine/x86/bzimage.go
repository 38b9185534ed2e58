package x86

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Offsets of setup-header fields, both in the bzImage file and in boot_params (Documentation/arch/x86/boot.rst).
const (
	hdrSetupSects      = 0x1F1
	hdrSysSize         = 0x1F4
	hdrBootFlag        = 0x1FE
	hdrJump            = 0x200
	hdrMagic           = 0x202
	hdrVersion         = 0x206
	hdrTypeOfLoader    = 0x210
	hdrLoadFlags       = 0x211
	hdrCode32Start     = 0x214
	hdrRamdiskImage    = 0x218
	hdrRamdiskSize     = 0x21C
	hdrHeapEndPtr      = 0x224
	hdrCmdLinePtr      = 0x228
	hdrInitrdAddrMax   = 0x22C
	hdrKernelAlignment = 0x230
	hdrRelocatable     = 0x234
	hdrXLoadFlags      = 0x236
	hdrCmdlineSize     = 0x238
	hdrHardwareSubarch = 0x23C
	hdrPrefAddress     = 0x258
	hdrInitSize        = 0x260
	hdrEnd             = 0x268 + 4 // through kernel_info_offset (protocol 2.15)

	bootFlagMagic = 0xAA55
	hdrSMagic     = 0x53726448 // "HdrS"

	loadFlagLoadedHigh = 0x01
	loadFlagCanUseHeap = 0x80

	xlfKernel64 = 0x01

	// MinBootProtocol is the oldest boot protocol with the 64-bit entry and xloadflags.
	MinBootProtocol = 0x020C
)

// errNotBzImage prefixes every complaint about a file that is not a usable bzImage.
var errNotBzImage = errors.New("not a Linux bzImage")

// SetupHeader is what Paddock needs from a bzImage's setup header.
type SetupHeader struct {
	Version         uint16
	SetupSects      int    // 512-byte sectors of real-mode code after the boot sector (0 in the file means 4)
	SysSize         uint32 // protected-mode code size in 16-byte paragraphs
	LoadFlags       uint8
	XLoadFlags      uint16
	Relocatable     bool
	KernelAlignment uint32
	PrefAddress     uint64
	InitSize        uint32
	CmdlineSize     uint32
	InitrdAddrMax   uint32
	// HeaderEnd is where the header stops in the file (0x202 + the jump's byte offset), for copying it whole.
	HeaderEnd int
}

// SetupSize is the byte length of the real-mode part (boot sector plus setup sectors).
func (h SetupHeader) SetupSize() int { return (h.SetupSects + 1) * 512 }

// KernelSize is the byte length of the protected-mode kernel.
func (h SetupHeader) KernelSize() uint64 { return uint64(h.SysSize) * 16 }

func notBz(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errNotBzImage, fmt.Sprintf(format, args...))
}

// ParseBzImage validates a bzImage's setup header and returns it. Anything that is not a bzImage Paddock can boot
// through the 64-bit entry is refused with an error that says why.
func ParseBzImage(data []byte) (SetupHeader, error) {
	var h SetupHeader
	if len(data) < hdrEnd {
		return h, notBz("file is %d bytes, too short for a setup header", len(data))
	}
	le := binary.LittleEndian
	if v := le.Uint16(data[hdrBootFlag:]); v != bootFlagMagic {
		return h, notBz("boot flag is %#04x, want %#04x", v, bootFlagMagic)
	}
	if v := le.Uint32(data[hdrMagic:]); v != hdrSMagic {
		return h, notBz("no \"HdrS\" signature at %#x", hdrMagic)
	}
	h.Version = le.Uint16(data[hdrVersion:])
	if h.Version < MinBootProtocol {
		return h, notBz("boot protocol %d.%02d is older than %d.%02d, which the 64-bit entry needs",
			h.Version>>8, h.Version&0xff, MinBootProtocol>>8, MinBootProtocol&0xff)
	}
	h.SetupSects = int(data[hdrSetupSects])
	if h.SetupSects == 0 {
		h.SetupSects = 4
	}
	h.SysSize = le.Uint32(data[hdrSysSize:])
	h.LoadFlags = data[hdrLoadFlags]
	h.XLoadFlags = le.Uint16(data[hdrXLoadFlags:])
	h.Relocatable = data[hdrRelocatable] != 0
	h.KernelAlignment = le.Uint32(data[hdrKernelAlignment:])
	h.PrefAddress = le.Uint64(data[hdrPrefAddress:])
	h.InitSize = le.Uint32(data[hdrInitSize:])
	h.CmdlineSize = le.Uint32(data[hdrCmdlineSize:])
	h.InitrdAddrMax = le.Uint32(data[hdrInitrdAddrMax:])
	h.HeaderEnd = 0x202 + int(data[hdrJump+1])
	if h.HeaderEnd > hdrEnd {
		h.HeaderEnd = hdrEnd // later fields are unknown to Paddock; the kernel treats them as zero
	}

	if h.LoadFlags&loadFlagLoadedHigh == 0 {
		return h, notBz("a zImage (loaded low); only bzImage is supported")
	}
	if h.XLoadFlags&xlfKernel64 == 0 {
		return h, notBz("the kernel has no 64-bit entry point (XLF_KERNEL_64 clear)")
	}
	if h.SysSize == 0 {
		return h, notBz("syssize is 0")
	}
	if h.SetupSize() >= len(data) {
		return h, notBz("truncated: %d setup sectors but the file is only %d bytes", h.SetupSects, len(data))
	}
	if rest := uint64(len(data) - h.SetupSize()); h.KernelSize() > rest {
		return h, notBz("truncated: the header promises %d bytes of kernel, the file holds %d", h.KernelSize(), rest)
	}
	if a := h.KernelAlignment; h.Relocatable && (a == 0 || a&(a-1) != 0) {
		return h, notBz("kernel_alignment %#x is not a power of two", a)
	}
	return h, nil
}
