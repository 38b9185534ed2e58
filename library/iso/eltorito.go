package iso

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// El Torito boot catalog layout (El Torito 1.0, section 2): 32-byte entries.
const (
	entrySize = 32
	// catalogSectors bounds the catalog read: 256 entries, far more than any real image carries.
	catalogSectors = 4

	headerValidation  = 0x01
	headerMore        = 0x90
	headerFinal       = 0x91
	indicatorBootable = 0x88
	indicatorNoBoot   = 0x00
	// indicatorExtension starts a section entry extension, which carries selection criteria only.
	indicatorExtension = 0x44
)

// readBoot reads the boot catalog the boot record points at and sets the Boot* fields and Reason. Only an I/O
// error is returned: a broken catalog makes the image not bootable, with the reason.
func (in *inspection) readBoot() error {
	reason, err := in.parseCatalog()
	if err != nil {
		return err
	}
	for _, e := range in.info.BootEntries {
		if !e.Usable {
			continue
		}
		switch e.Platform {
		case PlatformBIOS:
			in.info.BIOSBootable = true
		case PlatformUEFI:
			in.info.UEFIBootable = true
		}
	}
	in.info.Bootable = in.info.BIOSBootable || in.info.UEFIBootable
	if in.info.Bootable {
		return nil
	}
	if reason == "" {
		reason = in.whyNoUsableEntry()
	}
	in.info.Reason = reason
	return nil
}

// parseCatalog fills BootEntries; reason is set when the catalog is missing or unusable.
func (in *inspection) parseCatalog() (reason string, err error) {
	if in.catalog < 0 {
		return "no El Torito boot record", nil
	}
	start := in.catalog * sectorSize
	if start+sectorSize > in.volumeBytes {
		return "boot catalog corrupt: it lies outside the volume", nil
	}
	n := min(int64(catalogSectors*sectorSize), in.volumeBytes-start, max(in.img.size-start, sectorSize))
	cat, err := in.img.read(start, n)
	if err != nil {
		if e := in.ioFailure(err); e != nil {
			return "", e
		}
		return "boot catalog missing: the file ends before it", nil
	}

	v := cat[:entrySize]
	if v[0] != headerValidation || v[30] != 0x55 || v[31] != 0xAA {
		return "boot catalog corrupt: no validation entry", nil
	}
	var sum uint16
	for i := 0; i < entrySize; i += 2 {
		sum += binary.LittleEndian.Uint16(v[i:])
	}
	if sum != 0 {
		return "boot catalog corrupt: validation entry checksum mismatch", nil
	}

	def := cat[entrySize : 2*entrySize]
	if def[0] != indicatorBootable && def[0] != indicatorNoBoot {
		return fmt.Sprintf("boot catalog corrupt: default entry has boot indicator 0x%02x", def[0]), nil
	}
	in.info.BootEntries = append(in.info.BootEntries, in.entry(Platform(v[1]), def))

	// Section headers and their entries follow the default entry until the final header's entries end.
	off := 2 * entrySize
	for off+entrySize <= len(cat) {
		h := cat[off : off+entrySize]
		if h[0] != headerMore && h[0] != headerFinal {
			break // the unused rest of the catalog is zero
		}
		platform := Platform(h[1])
		count := int(binary.LittleEndian.Uint16(h[2:4]))
		off += entrySize
		for seen := 0; seen < count && off+entrySize <= len(cat); off += entrySize {
			e := cat[off : off+entrySize]
			if e[0] == indicatorExtension {
				continue
			}
			if e[0] != indicatorBootable && e[0] != indicatorNoBoot {
				break
			}
			in.info.BootEntries = append(in.info.BootEntries, in.entry(platform, e))
			seen++
		}
		if h[0] == headerFinal {
			break
		}
	}
	return "", nil
}

// entry decodes a default or section entry and checks that its boot image is inside the volume and the file.
func (in *inspection) entry(platform Platform, e []byte) BootEntry {
	b := BootEntry{
		Platform:    platform,
		Bootable:    e[0] == indicatorBootable,
		Media:       Media(e[1] & 0x0F),
		LoadSegment: binary.LittleEndian.Uint16(e[2:4]),
		SectorCount: binary.LittleEndian.Uint16(e[6:8]),
		LoadRBA:     binary.LittleEndian.Uint32(e[8:12]),
	}
	imageStart := int64(b.LoadRBA) * sectorSize
	// A zero count still loads one sector on every BIOS; emulated media are at least one sector too.
	imageLen := max(int64(b.SectorCount)*512, 512)
	inside := b.LoadRBA > 0 && imageStart+imageLen <= in.volumeBytes && imageStart+imageLen <= in.img.size
	b.Usable = b.Bootable && b.Media <= MediaHardDisk && inside
	return b
}

// whyNoUsableEntry words why a well-formed catalog boots nothing here.
func (in *inspection) whyNoUsableEntry() string {
	entries := in.info.BootEntries
	if len(entries) == 0 {
		return "boot catalog has no entries"
	}
	var others []string
	anyBootable := false
	for _, e := range entries {
		if !e.Bootable {
			continue
		}
		anyBootable = true
		if e.Platform != PlatformBIOS && e.Platform != PlatformUEFI {
			others = append(others, e.Platform.String())
			continue
		}
		if e.Media > MediaHardDisk {
			return fmt.Sprintf("boot catalog corrupt: unknown %s", e.Media)
		}
		if in.img.size < in.volumeBytes {
			return "boot image missing: the file ends before it"
		}
		return "boot catalog corrupt: the boot image lies outside the volume"
	}
	if !anyBootable {
		return "boot catalog marks no entry bootable"
	}
	return "boot entries are for other machines only (" + strings.Join(others, ", ") + ")"
}
