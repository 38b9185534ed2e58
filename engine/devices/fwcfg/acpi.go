package fwcfg

import (
	"encoding/binary"
	"fmt"
)

// The table loader ("etc/table-loader") is a list of 128-byte little-endian commands the firmware runs in order:
// ALLOCATE copies a fw_cfg file into firmware-chosen memory, ADD_POINTER adds the address where one file landed
// to a field in another, ADD_CHECKSUM fixes a checksum byte once every pointer is in place. So the tables are built
// here with offsets where addresses go, and the firmware turns offsets into addresses.
const (
	loaderEntrySize    = 128
	loaderNameSize     = 56
	loaderAllocate     = 1
	loaderAddPointer   = 2
	loaderAddChecksum  = 3
	loaderZoneHigh     = 1 // anywhere in RAM below 4 GiB the firmware keeps
	loaderZoneFSeg     = 2 // the 0xF0000 segment, where the OS looks for the RSDP
	acpiHeaderSize     = 36
	acpiChecksumOffset = 9
	rsdpSize           = 36
	facsAlign          = 64
	tableAlign         = 8
)

// FADT fields the loader patches (byte offsets in the table).
const (
	fadtFirmwareCtrl  = 36
	fadtDSDT          = 40
	fadtXFirmwareCtrl = 132
	fadtXDSDT         = 140
)

type loaderPointer struct {
	destFile, srcFile string
	offset            uint32
	size              uint8
}

type loaderChecksum struct {
	file                  string
	offset, start, length uint32
}

// SetACPITables publishes complete, pre-built ACPI tables for SeaBIOS to install: "etc/acpi/tables" (the tables,
// then an RSDT and an XSDT listing them), "etc/acpi/rsdp" and the "etc/table-loader" commands that place the RSDP
// in the F segment and the tables in high memory, link them and checksum them.
//
// Each table is a whole table, header included, whose length field matches its size. A "DSDT" and a "FACS" are
// linked from the "FACP" (FADT: DSDT and X_DSDT, X_FIRMWARE_CTRL, or FIRMWARE_CTRL for a FADT too short to
// hold the 64-bit field) whatever addresses those fields held; every other table is listed in the RSDT and XSDT.
// Checksums are recomputed by the firmware, so the given ones do not matter. The RSDT and XSDT take the OEM fields
// of the first table that has them.
func (d *Device) SetACPITables(tables ...[]byte) error {
	type placed struct {
		sig    string
		offset uint32
		data   []byte
	}
	var facs, dsdt, fadt *placed
	var listed []*placed
	var all []*placed
	var oem []byte // OEM ID through creator revision, from the first table with a full header
	for i, t := range tables {
		if len(t) < 8 {
			return fmt.Errorf("ACPI table %d: %d bytes is too short for a header", i, len(t))
		}
		sig := string(t[0:4])
		if n := binary.LittleEndian.Uint32(t[4:]); uint64(n) != uint64(len(t)) {
			return fmt.Errorf("ACPI table %d (%q): length field %d but %d bytes", i, sig, n, len(t))
		}
		p := &placed{sig: sig, data: append([]byte(nil), t...)}
		var slot **placed
		switch sig {
		case "FACS":
			slot = &facs
		case "DSDT":
			slot = &dsdt
		case "FACP":
			slot = &fadt
		}
		if sig != "FACS" && len(t) < acpiHeaderSize {
			return fmt.Errorf("ACPI table %d (%q): %d bytes is too short for a header", i, sig, len(t))
		}
		if sig == "FACP" && len(t) < fadtDSDT+4 {
			return fmt.Errorf("ACPI FADT of %d bytes is too short to name a DSDT", len(t))
		}
		if slot != nil {
			if *slot != nil {
				return fmt.Errorf("ACPI table %q given twice", sig)
			}
			*slot = p
		}
		if sig != "FACS" {
			p.data[acpiChecksumOffset] = 0
			if oem == nil {
				oem = p.data[10:acpiHeaderSize]
			}
		}
		if sig != "FACS" && sig != "DSDT" {
			listed = append(listed, p)
		}
		all = append(all, p)
	}
	if oem == nil {
		oem = make([]byte, acpiHeaderSize-10)
	}

	// Lay out the blob: the FACS first, on the 64-byte boundary it needs (the allocation is 64-byte aligned).
	var blob []byte
	place := func(p *placed, align int) error {
		for len(blob)%align != 0 {
			blob = append(blob, 0)
		}
		if len(blob)+len(p.data) > MaxItemSize {
			return fmt.Errorf("ACPI tables exceed %d bytes", MaxItemSize)
		}
		p.offset = uint32(len(blob))
		blob = append(blob, p.data...)
		return nil
	}
	if facs != nil {
		if err := place(facs, facsAlign); err != nil {
			return err
		}
	}
	for _, p := range all {
		if p != facs {
			if err := place(p, tableAlign); err != nil {
				return err
			}
		}
	}

	var pointers []loaderPointer
	var checksums []loaderChecksum
	le := binary.LittleEndian
	pointTo := func(dest *placed, field uint32, size uint8, target uint32) {
		at := blob[dest.offset+field:]
		if size == 4 {
			le.PutUint32(at, target)
		} else {
			le.PutUint64(at, uint64(target))
		}
		pointers = append(pointers, loaderPointer{FileACPITables, FileACPITables, dest.offset + field, size})
	}
	if fadt != nil {
		n := uint32(len(fadt.data))
		// Clear what the caller put in the link fields: the loader adds addresses to them.
		for _, f := range [][2]uint32{{fadtFirmwareCtrl, 4}, {fadtDSDT, 4}, {fadtXFirmwareCtrl, 8}, {fadtXDSDT, 8}} {
			if f[0]+f[1] <= n {
				clear(blob[fadt.offset+f[0] : fadt.offset+f[0]+f[1]])
			}
		}
		if dsdt != nil {
			pointTo(fadt, fadtDSDT, 4, dsdt.offset)
			if fadtXDSDT+8 <= n {
				pointTo(fadt, fadtXDSDT, 8, dsdt.offset)
			}
		}
		if facs != nil {
			// ACPI allows only one of FIRMWARE_CTRL and X_FIRMWARE_CTRL to be set.
			if fadtXFirmwareCtrl+8 <= n {
				pointTo(fadt, fadtXFirmwareCtrl, 8, facs.offset)
			} else {
				pointTo(fadt, fadtFirmwareCtrl, 4, facs.offset)
			}
		}
	}

	header := func(sig string, length int, rev byte) []byte {
		h := make([]byte, acpiHeaderSize, length)
		copy(h, sig)
		le.PutUint32(h[4:], uint32(length))
		h[8] = rev
		copy(h[10:], oem)
		return h
	}
	rsdt := &placed{sig: "RSDT", data: header("RSDT", acpiHeaderSize+4*len(listed), 1)}
	rsdt.data = rsdt.data[:cap(rsdt.data)]
	xsdt := &placed{sig: "XSDT", data: header("XSDT", acpiHeaderSize+8*len(listed), 1)}
	xsdt.data = xsdt.data[:cap(xsdt.data)]
	if err := place(rsdt, tableAlign); err != nil {
		return err
	}
	if err := place(xsdt, tableAlign); err != nil {
		return err
	}
	for i, p := range listed {
		pointTo(rsdt, acpiHeaderSize+4*uint32(i), 4, p.offset)
		pointTo(xsdt, acpiHeaderSize+8*uint32(i), 8, p.offset)
	}
	for _, p := range append(all, rsdt, xsdt) {
		if p.sig != "FACS" {
			checksums = append(checksums, loaderChecksum{FileACPITables, p.offset + acpiChecksumOffset, p.offset, uint32(len(p.data))})
		}
	}

	rsdp := make([]byte, rsdpSize)
	copy(rsdp, "RSD PTR ")
	copy(rsdp[9:15], oem[:6])
	rsdp[15] = 2 // ACPI 2.0 or later: the XSDT fields are valid
	le.PutUint32(rsdp[16:], rsdt.offset)
	le.PutUint32(rsdp[20:], rsdpSize)
	le.PutUint64(rsdp[24:], uint64(xsdt.offset))
	pointers = append(pointers,
		loaderPointer{FileACPIRSDP, FileACPITables, 16, 4},
		loaderPointer{FileACPIRSDP, FileACPITables, 24, 8})
	// The ACPI 1.0 checksum covers the first 20 bytes; the extended one, done after it, the whole structure.
	checksums = append(checksums,
		loaderChecksum{FileACPIRSDP, 8, 0, 20},
		loaderChecksum{FileACPIRSDP, 32, 0, rsdpSize})

	var loader []byte
	loader = append(loader, loaderAllocateEntry(FileACPIRSDP, 16, loaderZoneFSeg)...)
	loader = append(loader, loaderAllocateEntry(FileACPITables, facsAlign, loaderZoneHigh)...)
	for _, p := range pointers {
		loader = append(loader, loaderPointerEntry(p)...)
	}
	for _, c := range checksums {
		loader = append(loader, loaderChecksumEntry(c)...)
	}

	if err := d.AddFile(FileACPITables, blob); err != nil {
		return err
	}
	if err := d.AddFile(FileACPIRSDP, rsdp); err != nil {
		return err
	}
	return d.AddFile(FileTableLoader, loader)
}

func loaderAllocateEntry(name string, align uint32, zone byte) []byte {
	e := make([]byte, loaderEntrySize)
	binary.LittleEndian.PutUint32(e[0:], loaderAllocate)
	copy(e[4:4+loaderNameSize], name)
	binary.LittleEndian.PutUint32(e[4+loaderNameSize:], align)
	e[4+loaderNameSize+4] = zone
	return e
}

func loaderPointerEntry(p loaderPointer) []byte {
	e := make([]byte, loaderEntrySize)
	binary.LittleEndian.PutUint32(e[0:], loaderAddPointer)
	copy(e[4:4+loaderNameSize], p.destFile)
	copy(e[4+loaderNameSize:4+2*loaderNameSize], p.srcFile)
	binary.LittleEndian.PutUint32(e[4+2*loaderNameSize:], p.offset)
	e[4+2*loaderNameSize+4] = p.size
	return e
}

func loaderChecksumEntry(c loaderChecksum) []byte {
	e := make([]byte, loaderEntrySize)
	binary.LittleEndian.PutUint32(e[0:], loaderAddChecksum)
	copy(e[4:4+loaderNameSize], c.file)
	binary.LittleEndian.PutUint32(e[4+loaderNameSize:], c.offset)
	binary.LittleEndian.PutUint32(e[4+loaderNameSize+4:], c.start)
	binary.LittleEndian.PutUint32(e[4+loaderNameSize+8:], c.length)
	return e
}
