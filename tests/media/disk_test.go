package media

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The boot code points boot.img at sector 1 of the drive it booted from, and core.img's block list at the sectors
// after its first, as grub-bios-setup leaves them; Install writes both and keeps the partition table.
func TestGrubBootCodePatch(t *testing.T) {
	boot := bytes.Repeat([]byte{0xb0}, sectorSize)
	core := bytes.Repeat([]byte{0xc0}, 3*sectorSize+100)
	code, err := patchGrubBootCode(boot, core)
	if err != nil {
		t.Fatal(err)
	}
	if len(code.MBR) != MBRCodeSize || len(code.Core) != 4*sectorSize {
		t.Fatalf("boot code of %d and %d bytes, want %d and %d", len(code.MBR), len(code.Core), MBRCodeSize, 4*sectorSize)
	}
	if got := binary.LittleEndian.Uint64(code.MBR[bootKernelSector:]); got != 1 {
		t.Errorf("boot.img loads sector %d, want 1", got)
	}
	if code.MBR[bootDrive] != 0xff || !bytes.Equal(code.MBR[bootDriveCheck:bootDriveCheck+2], []byte{0x90, 0x90}) {
		t.Errorf("boot.img does not boot from the BIOS's drive as a hard disk")
	}
	block := code.Core[sectorSize-blocklistSize : sectorSize]
	if start, n, seg := binary.LittleEndian.Uint64(block), binary.LittleEndian.Uint16(block[8:]), binary.LittleEndian.Uint16(block[10:]); start != 2 || n != 3 || seg != coreLoadSegment {
		t.Errorf("core.img's block list: sector %d, %d sectors, segment %#x; want 2, 3, %#x", start, n, seg, coreLoadSegment)
	}
	if !bytes.Equal(boot, bytes.Repeat([]byte{0xb0}, sectorSize)) || len(core) != 3*sectorSize+100 {
		t.Errorf("patching changed its inputs")
	}

	disk := filepath.Join(t.TempDir(), "disk.img")
	table := make([]byte, sectorSize)
	for i := MBRCodeSize; i < sectorSize; i++ {
		table[i] = byte(i)
	}
	if err := os.WriteFile(disk, append(table, make([]byte, PartitionStart*sectorSize)...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := code.Install(disk); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(disk)
	if !bytes.Equal(raw[:MBRCodeSize], code.MBR) || !bytes.Equal(raw[MBRCodeSize:sectorSize], table[MBRCodeSize:]) ||
		!bytes.Equal(raw[sectorSize:sectorSize+len(code.Core)], code.Core) {
		t.Errorf("Install did not write the boot code around the disk's partition table")
	}

	if _, err := patchGrubBootCode(boot[:100], core); err == nil {
		t.Errorf("a short boot.img was accepted")
	}
	if _, err := patchGrubBootCode(boot, make([]byte, PartitionStart*sectorSize)); err == nil {
		t.Errorf("a core.img larger than the gap was accepted")
	}
	if err := (GrubBootCode{MBR: code.MBR[:10], Core: code.Core}).Install(disk); err == nil {
		t.Errorf("Install took boot code that does not fit")
	}
}

// With Debian's GRUB: the boot code carries boot.img's code and a core.img made by grub-mkimage.
func TestNewGrubBootCode(t *testing.T) {
	if missing := GrubDiskMissing(); len(missing) > 0 {
		t.Skipf("needs Debian packages %s", strings.Join(missing, ", "))
	}
	code, err := NewGrubBootCode(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	boot, err := os.ReadFile(filepath.Join(grubPCDir, "boot.img"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(code.MBR[:bootKernelSector], boot[:bootKernelSector]) {
		t.Errorf("the MBR code does not start as boot.img")
	}
	if len(code.Core) < 2*sectorSize || len(code.Core)%sectorSize != 0 {
		t.Errorf("core.img is %d bytes", len(code.Core))
	}
}
