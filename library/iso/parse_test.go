package iso

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func inspectBytes(t *testing.T, img []byte) (Info, error) {
	t.Helper()
	return InspectReaderAt(bytes.NewReader(img), int64(len(img)), "test.iso")
}

func TestSynthImage(t *testing.T) {
	info, err := inspectBytes(t, synthISO())
	if err != nil {
		t.Fatal(err)
	}
	if info.Label != "Debian 12.5.0 netinst" || info.Family != FamilyDebian || info.Arch != "amd64" {
		t.Errorf("label %q family %q arch %q, want Debian 12.5.0 netinst, debian, amd64", info.Label, info.Family, info.Arch)
	}
	if !info.Bootable || !info.BIOSBootable || info.UEFIBootable || info.Reason != "" {
		t.Errorf("bootable %v BIOS %v UEFI %v reason %q, want BIOS-bootable only", info.Bootable, info.BIOSBootable, info.UEFIBootable, info.Reason)
	}
	want := []BootEntry{{Platform: PlatformBIOS, Bootable: true, Media: MediaNoEmulation, SectorCount: 4, LoadRBA: secBootImage, Usable: true}}
	if !slices.Equal(info.BootEntries, want) {
		t.Errorf("boot entries %+v, want %+v", info.BootEntries, want)
	}
	if info.SizeBytes != synthSectors*sectorSize || info.VolumeID != "Debian 12.5.0 amd64 n" || info.Publisher != "DEBIAN" {
		t.Errorf("size %d volume %q publisher %q", info.SizeBytes, info.VolumeID, info.Publisher)
	}
	if info.DiskInfo != synthDiskInfo {
		t.Errorf("disk info %q, want %q", info.DiskInfo, synthDiskInfo)
	}
}

// TestNotBootable breaks the boot set-up one field at a time: each image stays a readable ISO, not bootable, with
// a reason a person can act on.
func TestNotBootable(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(img []byte)
		reason  string
	}{
		{"no boot record", func(img []byte) { clear(sector(img, secBootRecord)[7:39]) }, "no El Torito boot record"},
		{"checksum", func(img []byte) { sector(img, secCatalog)[4] ^= 1 }, "boot catalog corrupt: validation entry checksum mismatch"},
		{"key bytes", func(img []byte) { sector(img, secCatalog)[31] = 0 }, "boot catalog corrupt: no validation entry"},
		{"header id", func(img []byte) { sector(img, secCatalog)[0] = 0x90 }, "boot catalog corrupt: no validation entry"},
		{"catalog outside volume", func(img []byte) {
			binary.LittleEndian.PutUint32(sector(img, secBootRecord)[71:], 0xFFFFFFFF)
		}, "boot catalog corrupt: it lies outside the volume"},
		{"boot indicator", func(img []byte) { sector(img, secCatalog)[entrySize] = 0x42 }, "boot catalog corrupt: default entry has boot indicator 0x42"},
		{"not marked bootable", func(img []byte) { sector(img, secCatalog)[entrySize] = indicatorNoBoot }, "boot catalog marks no entry bootable"},
		{"image outside volume", func(img []byte) {
			binary.LittleEndian.PutUint32(sector(img, secCatalog)[entrySize+8:], synthSectors)
		}, "boot catalog corrupt: the boot image lies outside the volume"},
		{"image at sector 0", func(img []byte) {
			binary.LittleEndian.PutUint32(sector(img, secCatalog)[entrySize+8:], 0)
		}, "boot catalog corrupt: the boot image lies outside the volume"},
		{"unknown media", func(img []byte) { sector(img, secCatalog)[entrySize+1] = 9 }, "boot catalog corrupt: unknown media type 9"},
		{"PowerPC only", func(img []byte) { copy(sector(img, secCatalog), validationEntry(byte(PlatformPowerPC))) },
			"boot entries are for other machines only (PowerPC)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := synthISO()
			tt.breakIt(img)
			info, err := inspectBytes(t, img)
			if err != nil {
				t.Fatalf("a broken boot catalog must not make the image unreadable: %v", err)
			}
			if info.Bootable || info.BIOSBootable || info.UEFIBootable {
				t.Errorf("reported bootable: %+v", info)
			}
			if info.Reason != tt.reason {
				t.Errorf("reason %q, want %q", info.Reason, tt.reason)
			}
			if info.Family != FamilyDebian {
				t.Errorf("detection should not depend on the boot catalog: family %q", info.Family)
			}
		})
	}
}

// TestSections covers section headers: a UEFI-only catalog, and one with BIOS default plus a UEFI section.
func TestSections(t *testing.T) {
	t.Run("UEFI section", func(t *testing.T) {
		img := synthISO()
		cat := sector(img, secCatalog)
		h := make([]byte, entrySize)
		h[0], h[1] = headerFinal, byte(PlatformUEFI)
		binary.LittleEndian.PutUint16(h[2:], 1)
		copy(cat[2*entrySize:], h)
		ext := make([]byte, entrySize)
		ext[0] = indicatorExtension
		copy(cat[3*entrySize:], bootEntry(indicatorBootable, MediaNoEmulation|0x20, 1, secBootImage))
		copy(cat[4*entrySize:], ext)
		info, err := inspectBytes(t, img)
		if err != nil {
			t.Fatal(err)
		}
		if !info.BIOSBootable || !info.UEFIBootable || len(info.BootEntries) != 2 || info.BootEntries[1].Platform != PlatformUEFI {
			t.Errorf("want BIOS and UEFI entries, got %+v", info)
		}
	})
	t.Run("UEFI only", func(t *testing.T) {
		img := synthISO()
		copy(sector(img, secCatalog), validationEntry(byte(PlatformUEFI)))
		info, err := inspectBytes(t, img)
		if err != nil {
			t.Fatal(err)
		}
		if info.BIOSBootable || !info.UEFIBootable || !info.Bootable {
			t.Errorf("want UEFI-bootable only, got BIOS %v UEFI %v", info.BIOSBootable, info.UEFIBootable)
		}
	})
	t.Run("section count past the catalog", func(t *testing.T) {
		img := synthISO()
		cat := sector(img, secCatalog)
		h := make([]byte, entrySize)
		h[0], h[1] = headerMore, byte(PlatformUEFI)
		binary.LittleEndian.PutUint16(h[2:], 0xFFFF)
		copy(cat[2*entrySize:], h)
		for off := 3 * entrySize; off+entrySize <= len(cat); off += entrySize {
			copy(cat[off:], bootEntry(indicatorNoBoot, MediaNoEmulation, 1, secBootImage))
		}
		info, err := inspectBytes(t, img)
		if err != nil || !info.BIOSBootable || info.UEFIBootable {
			t.Errorf("err %v, BIOS %v UEFI %v: want the default entry only usable", err, info.BIOSBootable, info.UEFIBootable)
		}
	})
}

// TestNotISO checks each way a file fails to be an image, and the sentence the user reads.
func TestNotISO(t *testing.T) {
	qcow := make([]byte, 40<<10)
	copy(qcow, "QFI\xfb")
	udf := make([]byte, 40<<10)
	copy(udf[secPVD*sectorSize:], "\x00BEA01\x01")
	noPVD := synthISO()
	sector(noPVD, secPVD)[0] = vdTerminator
	badBlock := synthISO()
	putBoth16(sector(badBlock, secPVD)[128:], 3)
	tinyVolume := synthISO()
	putBoth32(sector(tinyVolume, secPVD)[80:], 2)

	tests := []struct {
		name string
		img  []byte
		kind Kind
		msg  string
	}{
		{"empty", nil, KindEmpty, "test.iso is not a CD/DVD image (ISO 9660): the file is empty"},
		{"1 KiB", synthISO()[:1024], KindTooShort, "test.iso is not a CD/DVD image (ISO 9660): it is only 1 KiB long, too short to hold one"},
		{"32 KiB", synthISO()[:32<<10], KindTooShort, "test.iso is not a CD/DVD image (ISO 9660): it is only 32 KiB long, too short to hold one"},
		{"zeros", make([]byte, 40<<10), KindNoSignature, "test.iso is not a CD/DVD image (ISO 9660): it has no ISO 9660 volume descriptor at 32 KiB"},
		{"qcow2", qcow, KindNoSignature, "test.iso is not a CD/DVD image (ISO 9660): it is a QCOW2 disk image"},
		{"UDF", udf, KindNoSignature, "test.iso is not a CD/DVD image (ISO 9660): it is a UDF-only image, which is not supported"},
		{"no primary descriptor", noPVD, KindCorrupt, "test.iso is not a CD/DVD image (ISO 9660): it has no primary volume descriptor"},
		{"block size", badBlock, KindCorrupt, "test.iso is not a CD/DVD image (ISO 9660): its volume descriptor gives an impossible block size (3)"},
		{"volume size", tinyVolume, KindCorrupt, "test.iso is not a CD/DVD image (ISO 9660): its volume descriptor gives an impossible volume size (2 blocks)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := inspectBytes(t, tt.img)
			var e *Error
			if !errors.As(err, &e) || e.Kind != tt.kind {
				t.Fatalf("error %v, want kind %d", err, tt.kind)
			}
			if !errors.Is(err, ErrNotISO) || errors.Is(err, ErrTruncated) || errors.Is(err, ErrUnreadable) {
				t.Errorf("%v should match ErrNotISO only", err)
			}
			if err.Error() != tt.msg {
				t.Errorf("message\n%q, want\n%q", err.Error(), tt.msg)
			}
		})
	}
}

func TestTruncated(t *testing.T) {
	img := synthISO()[:(secCatalog)*sectorSize] // descriptors survive, the catalog and files do not
	info, err := inspectBytes(t, img)
	if !errors.Is(err, ErrTruncated) || errors.Is(err, ErrNotISO) {
		t.Fatalf("error %v, want ErrTruncated", err)
	}
	if want := "test.iso is an incomplete CD/DVD image: the file holds 38 KiB of the 48 KiB the image declares; was the download interrupted?"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if info.VolumeID != "Debian 12.5.0 amd64 n" || info.Family != FamilyDebian {
		t.Errorf("a truncated image should still say what it is: %+v", info)
	}
	if info.Bootable || info.Reason != "boot catalog missing: the file ends before it" {
		t.Errorf("bootable %v reason %q", info.Bootable, info.Reason)
	}

	img = synthISO()[:secBootImage*sectorSize] // everything but the boot image
	info, err = inspectBytes(t, img)
	if !errors.Is(err, ErrTruncated) || info.Bootable || info.Reason != "boot image missing: the file ends before it" {
		t.Errorf("err %v bootable %v reason %q", err, info.Bootable, info.Reason)
	}
}

func TestUnreadable(t *testing.T) {
	_, err := InspectReaderAt(failingReader{}, 1<<30, "disc.iso")
	if !errors.Is(err, ErrUnreadable) || errors.Is(err, ErrNotISO) {
		t.Fatalf("error %v, want ErrUnreadable", err)
	}
	if err.Error() != "disc.iso cannot be read: input/output error" {
		t.Errorf("message %q", err)
	}
}

// TestBoundedReads inspects a declared 10 GiB image: only the sectors the structures point at may be read.
func TestBoundedReads(t *testing.T) {
	img := synthISO()
	const size = 10 << 30
	putBoth32(sector(img, secPVD)[80:], size/sectorSize)
	r := &countingReader{data: img, size: size}
	info, err := InspectReaderAt(r, size, "big.iso")
	if err != nil || info.SizeBytes != size || !info.Bootable || info.Family != FamilyDebian {
		t.Fatalf("err %v info %+v", err, info)
	}
	if r.bytes > 64<<10 {
		t.Errorf("read %d bytes in %d calls to inspect a 10 GiB image; want a few sectors", r.bytes, r.calls)
	}
}

// TestHostileDirectories corrupts directory records: lookups must skip what they cannot trust and still find the
// rest, without loops.
func TestHostileDirectories(t *testing.T) {
	t.Run("directory pointing at itself", func(t *testing.T) {
		img := synthISO()
		root := sector(img, secRoot)
		// Turn /.disk into a directory whose extent is the root again.
		dirs := dirRecord("_DISK", secRoot, sectorSize, true, ".disk")
		copy(root[2*34:], dirs)
		info, err := inspectBytes(t, img)
		if err != nil || info.DiskInfo != "" {
			t.Errorf("err %v disk info %q", err, info.DiskInfo)
		}
	})
	t.Run("record crossing its sector", func(t *testing.T) {
		// A two-sector root at sectors 24-25: a bogus record ends the first sector, /.disk is in the second.
		img := append(synthISO(), make([]byte, 2*sectorSize)...)
		pvd := sector(img, secPVD)
		putBoth32(pvd[80:], synthSectors+2)
		copy(pvd[156:190], dirRecord("\x00", synthSectors, 2*sectorSize, true, ""))
		first, second := sector(img, synthSectors), sector(img, synthSectors+1)
		copy(first, dirRecord("\x00", synthSectors, 2*sectorSize, true, ""))
		first[2040] = 200 // claims 200 bytes where 8 are left
		copy(second, dirRecord("_DISK", secDiskDir, sectorSize, true, ".disk"))
		info, err := inspectBytes(t, img)
		if err != nil || info.DiskInfo != synthDiskInfo {
			t.Errorf("err %v disk info %q, want the file found past the bad record", err, info.DiskInfo)
		}
	})
	t.Run("record too short", func(t *testing.T) {
		img := synthISO()
		sector(img, secRoot)[2*34] = 20
		info, err := inspectBytes(t, img)
		if err != nil || info.DiskInfo != "" {
			t.Errorf("err %v disk info %q", err, info.DiskInfo)
		}
	})
	t.Run("name longer than the record", func(t *testing.T) {
		img := synthISO()
		root := sector(img, secRoot)
		root[2*34+32] = 200
		info, err := inspectBytes(t, img)
		if err != nil || info.DiskInfo != "" {
			t.Errorf("err %v disk info %q", err, info.DiskInfo)
		}
	})
	t.Run("file extent past the volume", func(t *testing.T) {
		img := synthISO()
		disk := sector(img, secDiskDir)
		putBoth32(disk[2*34+2:], 0xFFFFFF00)
		info, err := inspectBytes(t, img)
		if err != nil || info.DiskInfo != "" {
			t.Errorf("err %v disk info %q", err, info.DiskInfo)
		}
	})
	t.Run("huge directory length", func(t *testing.T) {
		img := synthISO()
		putBoth32(sector(img, secPVD)[156+10:], 0xFFFFFFFF)
		info, err := inspectBytes(t, img)
		if err != nil || info.DiskInfo != "" || !info.Bootable {
			t.Errorf("err %v disk info %q", err, info.DiskInfo)
		}
	})
	t.Run("control characters", func(t *testing.T) {
		img := synthISO()
		copy(sector(img, secDiskInfo), "Debian GNU/Linux 12.5.0 \"B\x1b[2J\" - Official amd64 NETINST\x00\xff")
		copy(sector(img, secPVD)[40:], "Debian\x07 12")
		info, err := inspectBytes(t, img)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{info.DiskInfo, info.VolumeID, info.Label} {
			if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0xfffd }) {
				t.Errorf("%q carries control characters", s)
			}
		}
	})
}

func TestInspectPaths(t *testing.T) {
	dir := t.TempDir()
	iso := filepath.Join(dir, "debian.iso")
	if err := os.WriteFile(iso, synthISO(), 0o644); err != nil {
		t.Fatal(err)
	}
	if info, err := Inspect(iso); err != nil || info.Label != "Debian 12.5.0 netinst" {
		t.Errorf("Inspect: %v, label %q", err, info.Label)
	}
	fifo := filepath.Join(dir, "pipe.iso")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Inspect(fifo); !errors.Is(err, ErrNotISO) || err.Error() != "pipe.iso is not a CD/DVD image (ISO 9660): it is not a regular file" {
		t.Errorf("a named pipe: %v", err)
	}
	if _, err := Inspect(filepath.Join(dir, "gone.iso")); !errors.Is(err, ErrUnreadable) ||
		err.Error() != "gone.iso cannot be read: no such file or directory" {
		t.Errorf("a missing file: %v", err)
	}
}
