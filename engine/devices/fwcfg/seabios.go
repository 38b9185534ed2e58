package fwcfg

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Names of the files SeaBIOS looks for.
const (
	FileE820          = "etc/e820"
	FileBootCPUs      = "etc/boot-cpus"
	FileBootOrder     = "bootorder"
	FileBootMenuWait  = "etc/boot-menu-wait"
	FileBootFailWait  = "etc/boot-fail-wait"
	FileRAMFB         = "etc/ramfb"
	FileTableLoader   = "etc/table-loader"
	FileACPITables    = "etc/acpi/tables"
	FileACPIRSDP      = "etc/acpi/rsdp"
	FileSMBIOSTables  = "etc/smbios/smbios-tables"
	FileSMBIOSAnchor  = "etc/smbios/smbios-anchor"
	VGAROMPrefix      = "vgaroms/" // SeaBIOS runs these as VGA option ROMs, e.g. vgaroms/vgabios-ramfb.bin
	GenericROMPrefix  = "genroms/" // and these as ordinary option ROMs
	e820EntrySize     = 20
	maxBootOrderBytes = 64 << 10
)

// E820 types SeaBIOS takes from "etc/e820"; it ignores any other.
const (
	E820RAM      = 1
	E820Reserved = 2
)

// E820Entry is one range of "etc/e820". It has x86.E820Entry's shape, so that map converts with E820Entry(e).
type E820Entry struct {
	Addr uint64
	Size uint64
	Type uint32
}

// SetE820 publishes the memory map as "etc/e820" (packed le64 address, le64 length, le32 type).
//
// SeaBIOS sizes RAM below 4 GiB from the CMOS (see SeaBIOSCMOS) and ignores RAM entries that start below that
// size; it uses the others (RAM above 4 GiB) and every reserved entry. Give it the RAM ranges as the machine has
// them (0..low end, 4 GiB..) and reservations such as KVM's TSS and identity-map pages; do not reserve the
// EBDA or BIOS area: SeaBIOS manages those itself.
func (d *Device) SetE820(entries []E820Entry) error {
	b := make([]byte, 0, e820EntrySize*len(entries))
	for _, e := range entries {
		if e.Addr+e.Size < e.Addr {
			return fmt.Errorf("e820 entry %#x+%#x wraps", e.Addr, e.Size)
		}
		b = binary.LittleEndian.AppendUint64(b, e.Addr)
		b = binary.LittleEndian.AppendUint64(b, e.Size)
		b = binary.LittleEndian.AppendUint32(b, e.Type)
	}
	return d.AddFile(FileE820, b)
}

// SetCPUs publishes how many CPUs run at boot and how many there may be: KeyNBCPUs, KeyMaxCPUs and
// "etc/boot-cpus" (SeaBIOS waits for that many CPUs to answer its start-up IPI).
func (d *Device) SetCPUs(boot, max int) error {
	if boot < 1 || boot > max || max > 0xffff {
		return fmt.Errorf("CPU counts boot=%d max=%d: need 1 <= boot <= max <= 65535", boot, max)
	}
	le16 := func(v int) []byte { return binary.LittleEndian.AppendUint16(nil, uint16(v)) }
	if err := d.AddBytes(KeyNBCPUs, le16(boot)); err != nil {
		return err
	}
	if err := d.AddBytes(KeyMaxCPUs, le16(max)); err != nil {
		return err
	}
	return d.AddFile(FileBootCPUs, le16(boot))
}

// SetRAMSize publishes the RAM size (KeyRAMSize, le64). SeaBIOS does not read it; other firmware may.
func (d *Device) SetRAMSize(bytes uint64) error {
	return d.AddBytes(KeyRAMSize, binary.LittleEndian.AppendUint64(nil, bytes))
}

// SetBootOrder publishes "bootorder": the boot devices, first choice first, as OpenFirmware device paths, one per
// line. SeaBIOS matches each device it finds against these paths by prefix; its own patterns are:
//
//	virtio-blk (any PCI device):  /pci@i0cf8/<name>@<slot>[,<fn>]           see PCIBootPath
//	virtio-scsi disk or CD-ROM:   /pci@i0cf8/<name>@<slot>/channel@0/disk@<target>,<lun>   see SCSIBootPath
//	option ROM in fw_cfg:         /rom@genroms/<file>
//
// <name> may be anything without a slash ("scsi", "disk"); slot and fn are hexadecimal, target and lun decimal.
// A line "HALT" stops SeaBIOS from trying devices not listed. Devices not listed boot after the listed ones.
func (d *Device) SetBootOrder(paths []string) error {
	for _, p := range paths {
		if p == "" || strings.ContainsAny(p, "\n\x00") {
			return fmt.Errorf("boot path %q must be non-empty, one line, without NUL", p)
		}
	}
	b := []byte(strings.Join(paths, "\n") + "\x00")
	if len(b) > maxBootOrderBytes {
		return fmt.Errorf("boot order of %d bytes is too long", len(b))
	}
	return d.AddFile(FileBootOrder, b)
}

// PCIBootPath is the "bootorder" path of the PCI device in slot dev, function fn, on bus 0 (a virtio-blk disk).
func PCIBootPath(dev, fn int) string {
	p := fmt.Sprintf("/pci@i0cf8/disk@%x", dev)
	if fn != 0 {
		p += fmt.Sprintf(",%x", fn)
	}
	return p
}

// SCSIBootPath is the "bootorder" path of a SCSI target and LUN behind the PCI SCSI controller (virtio-scsi) in
// slot dev, function fn, on bus 0.
func SCSIBootPath(dev, fn, target, lun int) string {
	p := fmt.Sprintf("/pci@i0cf8/scsi@%x", dev)
	if fn != 0 {
		p += fmt.Sprintf(",%x", fn)
	}
	return p + fmt.Sprintf("/channel@0/disk@%d,%d", target, lun)
}

// SetBootMenu says whether SeaBIOS offers its boot menu ("Press ESC for boot menu") and for how long, in
// milliseconds (KeyBootMenu and "etc/boot-menu-wait"). Without it there is no menu.
func (d *Device) SetBootMenu(show bool, waitMS int) error {
	if waitMS < 0 || waitMS > 0xffff {
		return fmt.Errorf("boot menu wait %d ms out of range 0..65535", waitMS)
	}
	var on uint16
	if show {
		on = 1
	}
	if err := d.AddBytes(KeyBootMenu, binary.LittleEndian.AppendUint16(nil, on)); err != nil {
		return err
	}
	return d.AddFile(FileBootMenuWait, binary.LittleEndian.AppendUint16(nil, uint16(waitMS)))
}

// SetBootFailWait sets how long SeaBIOS waits, in milliseconds, before it retries the boot when no device booted
// ("etc/boot-fail-wait"; SeaBIOS's default is 60 s).
func (d *Device) SetBootFailWait(ms uint32) error {
	return d.AddFile(FileBootFailWait, binary.LittleEndian.AppendUint32(nil, ms))
}

// RAMFBConfigSize is the size of "etc/ramfb": the RAMFBCfg structure SeaBIOS's ramfb VGA BIOS writes.
const RAMFBConfigSize = 28

// FourCCXRGB8888 is DRM_FORMAT_XRGB8888 ('X','R','2','4' as a little-endian code), the only format SeaBIOS's
// ramfb VGA BIOS asks for.
const FourCCXRGB8888 = 0x34325258

// RAMFBConfig is the framebuffer the guest asks for through "etc/ramfb".
type RAMFBConfig struct {
	Addr   uint64 // guest-physical address of the pixels: SeaBIOS allocates them in guest RAM
	FourCC uint32 // DRM format code; FourCCXRGB8888 from SeaBIOS
	Flags  uint32
	Width  uint32
	Height uint32
	Stride uint32 // bytes per line
}

// ParseRAMFBConfig decodes the bytes the guest wrote to "etc/ramfb" (all fields big-endian). It checks only the
// size: the caller must check the address, format and geometry against what it can back.
func ParseRAMFBConfig(b []byte) (RAMFBConfig, error) {
	if len(b) != RAMFBConfigSize {
		return RAMFBConfig{}, fmt.Errorf("ramfb config is %d bytes, want %d", len(b), RAMFBConfigSize)
	}
	be := binary.BigEndian
	return RAMFBConfig{
		Addr:   be.Uint64(b[0:]),
		FourCC: be.Uint32(b[8:]),
		Flags:  be.Uint32(b[12:]),
		Width:  be.Uint32(b[16:]),
		Height: be.Uint32(b[20:]),
		Stride: be.Uint32(b[24:]),
	}, nil
}

// CMOS bytes SeaBIOS reads on a fw_cfg machine.
const (
	cmosBaseMemLow   = 0x15 // KiB of conventional memory
	cmosBaseMemHigh  = 0x16
	cmosExtMemLow    = 0x17 // KiB above 1 MiB, up to 64 MiB (also at 0x30/0x31)
	cmosExtMemHigh   = 0x18
	cmosExtMem1Low   = 0x30
	cmosExtMem1High  = 0x31
	cmosExtMem2Low   = 0x34 // 64 KiB units above 16 MiB, below 4 GiB
	cmosExtMem2High  = 0x35
	cmosHighMemLow   = 0x5b // 64 KiB units above 4 GiB
	cmosHighMemMid   = 0x5c
	cmosHighMemHigh  = 0x5d
	cmosSMPCount     = 0x5f // CPUs at boot, less one
	mib              = 1 << 20
	conventionalKiB  = 640
	extMemMaxKiB     = 0xffff
	extMem2MaxChunks = 0xffff
)

// SeaBIOSCMOS returns the CMOS bytes (index to value) SeaBIOS reads to size memory and count CPUs: lowRAMEnd is
// the end of RAM below 4 GiB, highRAMSize the RAM from 4 GiB up. Write them with rtc.RTC.SetByte before the
// firmware runs.
func SeaBIOSCMOS(lowRAMEnd, highRAMSize uint64, cpus int) map[byte]byte {
	out := map[byte]byte{}
	put16 := func(lo, hi byte, v uint64) { out[lo], out[hi] = byte(v), byte(v>>8) }
	put16(cmosBaseMemLow, cmosBaseMemHigh, conventionalKiB)
	var ext uint64
	if lowRAMEnd > mib {
		ext = min((lowRAMEnd-mib)/1024, extMemMaxKiB)
	}
	put16(cmosExtMemLow, cmosExtMemHigh, ext)
	put16(cmosExtMem1Low, cmosExtMem1High, ext)
	var ext2 uint64
	if lowRAMEnd > 16*mib {
		ext2 = min((lowRAMEnd-16*mib)>>16, extMem2MaxChunks)
	}
	put16(cmosExtMem2Low, cmosExtMem2High, ext2)
	high := min(highRAMSize>>16, 0xffffff)
	out[cmosHighMemLow], out[cmosHighMemMid], out[cmosHighMemHigh] = byte(high), byte(high>>8), byte(high>>16)
	if cpus < 1 {
		cpus = 1
	}
	out[cmosSMPCount] = byte(min(cpus-1, 0xff))
	return out
}
