package media

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// An installed disk the way a BIOS installer leaves one: an MBR partition table with one bootable FAT partition
// holding /boot (the kernel, grub.cfg and GRUB's modules), GRUB's boot.img in the MBR and its core.img (built by
// Debian's grub-mkimage) embedded in the gap before the partition, where grub-install puts it on BIOS systems.
const (
	sectorSize = 512
	diskSize   = 32 << 20
	// PartitionStart is the first sector of the first partition on disks GRUB's boot code is made for: the 1 MiB
	// alignment installers use, leaving sectors 1 to 2047 for core.img.
	PartitionStart = 2048
	// MBRCodeSize is the size of the boot code at the start of the MBR; the disk signature and partition table
	// follow it.
	MBRCodeSize = mbrPartitionArea
	// Offsets in GRUB's boot.img and diskboot.img (grub/i386/pc/boot.h), the fields grub-bios-setup fills in.
	bootKernelSector = 0x5c
	bootDrive        = 0x64
	bootDriveCheck   = 0x66
	mbrPartitionArea = 0x1b8 // disk signature and partition table: the disk's, not boot.img's
	blocklistSize    = 12    // start (le64), sectors (le16), segment (le16)
	coreLoadSegment  = 0x820 // where diskboot.img loads the rest of core.img
)

// GrubDisk builds, in a temporary directory of t, a raw disk image made bootable with GRUB whose menu boots the
// bzImage kernel (see GrubConfig), and returns its path. It skips (or fails with PADDOCK_REQUIRE_MEDIA=1) when
// GRUB's BIOS files or mtools are missing.
func GrubDisk(t testing.TB, kernel string) string {
	t.Helper()
	if missing := GrubDiskMissing(); len(missing) > 0 {
		msg := "a GRUB disk needs Debian packages: " + strings.Join(missing, ", ")
		if os.Getenv("PADDOCK_REQUIRE_MEDIA") == "1" {
			t.Fatal(msg + "; PADDOCK_REQUIRE_MEDIA=1 makes this a failure")
		}
		t.Skip(msg)
	}
	path := filepath.Join(t.TempDir(), "installed.img")
	if err := BuildGrubDisk(path, kernel, GrubConfig("/boot/guest", -1), t.TempDir()); err != nil {
		t.Fatalf("building a GRUB disk: %v", err)
	}
	return path
}

// GrubDiskMissing lists the Debian packages that building a GRUB disk (BuildGrubDisk) or GRUB's boot code
// (NewGrubBootCode) needs and does not find.
func GrubDiskMissing() []string {
	var missing []string
	if _, err := os.Stat(filepath.Join(grubPCDir, "boot.img")); err != nil {
		missing = append(missing, "grub-pc-bin")
	}
	for _, tool := range []struct{ name, pkg string }{{"grub-mkimage", "grub-common"}, {"mformat", "mtools"}, {"mcopy", "mtools"}} {
		if _, err := exec.LookPath(tool.name); err != nil && !slices.Contains(missing, tool.pkg) {
			missing = append(missing, tool.pkg)
		}
	}
	return missing
}

// BuildGrubDisk writes that disk image to path, with grubCfg as /boot/grub/grub.cfg and kernel as /boot/guest;
// work is a scratch directory.
func BuildGrubDisk(path, kernel, grubCfg, work string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(diskSize); err != nil {
		return err
	}
	mbr := make([]byte, sectorSize)
	binary.LittleEndian.PutUint32(mbr[0x1b8:], 0x50414444) // disk signature
	entry := mbr[0x1be:]
	entry[0] = 0x80                            // active
	copy(entry[1:4], []byte{0xfe, 0xff, 0xff}) // CHS: use the LBA fields
	entry[4] = 0x06                            // FAT16
	copy(entry[5:8], []byte{0xfe, 0xff, 0xff})
	binary.LittleEndian.PutUint32(entry[8:], PartitionStart)
	binary.LittleEndian.PutUint32(entry[12:], diskSize/sectorSize-PartitionStart)
	mbr[0x1fe], mbr[0x1ff] = 0x55, 0xaa
	if _, err := f.WriteAt(mbr, 0); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}

	// The partition's filesystem and /boot, with mtools (no loop device, no mount).
	part := fmt.Sprintf("%s@@%d", path, PartitionStart*sectorSize)
	cfg := filepath.Join(work, "grub.cfg")
	if err := os.WriteFile(cfg, []byte(grubCfg), 0o644); err != nil {
		return err
	}
	modules := filepath.Join(work, "i386-pc")
	if err := os.MkdirAll(modules, 0o755); err != nil {
		return err
	}
	mods, _ := filepath.Glob(filepath.Join(grubPCDir, "*.mod"))
	lsts, _ := filepath.Glob(filepath.Join(grubPCDir, "*.lst"))
	for _, m := range append(mods, lsts...) {
		if err := copyFile(m, filepath.Join(modules, filepath.Base(m))); err != nil {
			return err
		}
	}
	sectors := diskSize/sectorSize - PartitionStart
	steps := [][]string{
		{"mformat", "-i", part, "-T", fmt.Sprint(sectors), "-h", "16", "-s", "63", "-H", fmt.Sprint(PartitionStart), "-v", "PADDOCK", "::"},
		{"mmd", "-i", part, "::/boot", "::/boot/grub"},
		{"mcopy", "-i", part, kernel, "::/boot/guest"},
		{"mcopy", "-i", part, cfg, "::/boot/grub/grub.cfg"},
		{"mcopy", "-s", "-i", part, modules, "::/boot/grub/"},
	}
	for _, argv := range steps {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, out)
		}
	}
	code, err := NewGrubBootCode(work)
	if err != nil {
		return err
	}
	return code.Install(path)
}

// GrubBootCode is GRUB's BIOS boot code as grub-bios-setup writes it to a disk whose first partition starts at
// PartitionStart and is a FAT filesystem holding /boot/grub (grub.cfg and the i386-pc modules).
type GrubBootCode struct {
	// MBR is boot.img's first MBRCodeSize bytes, pointing at sector 1: the start of sector 0, before the disk's
	// own signature and partition table.
	MBR []byte
	// Core is core.img in whole sectors, for sector 1 onwards; its first sector's block list names the sectors
	// after it.
	Core []byte
}

// NewGrubBootCode builds GRUB's boot code with Debian's grub-mkimage (work is a scratch directory): a core.img
// with the BIOS disk, MBR partition and FAT drivers, whose prefix is (hd0,msdos1)/boot/grub.
func NewGrubBootCode(work string) (GrubBootCode, error) {
	corePath := filepath.Join(work, "core.img")
	argv := []string{"grub-mkimage", "-O", "i386-pc", "-d", grubPCDir, "-o", corePath,
		"-p", "(hd0,msdos1)/boot/grub", "biosdisk", "part_msdos", "fat"}
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		return GrubBootCode{}, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, out)
	}
	boot, err := os.ReadFile(filepath.Join(grubPCDir, "boot.img"))
	if err != nil {
		return GrubBootCode{}, err
	}
	core, err := os.ReadFile(corePath)
	if err != nil {
		return GrubBootCode{}, err
	}
	return patchGrubBootCode(boot, core)
}

// patchGrubBootCode fills in what grub-bios-setup does for a core.img in the gap after the MBR: boot.img reads
// its first sector from sector 1 of the drive it booted from, and that sector's block list names the rest.
func patchGrubBootCode(boot, core []byte) (GrubBootCode, error) {
	if len(boot) != sectorSize {
		return GrubBootCode{}, fmt.Errorf("boot.img is %d bytes, want %d", len(boot), sectorSize)
	}
	nsec := (len(core) + sectorSize - 1) / sectorSize
	if nsec < 2 || nsec >= PartitionStart-1 {
		return GrubBootCode{}, fmt.Errorf("core.img has %d sectors; the gap before the partition holds %d", nsec, PartitionStart-1)
	}
	mbr := slices.Clone(boot[:MBRCodeSize])
	binary.LittleEndian.PutUint64(mbr[bootKernelSector:], 1)
	mbr[bootDrive] = 0xff                          // boot from the drive the BIOS booted
	copy(mbr[bootDriveCheck:], []byte{0x90, 0x90}) // a hard disk: skip the floppy check
	core = append(slices.Clone(core), make([]byte, nsec*sectorSize-len(core))...)
	block := core[sectorSize-blocklistSize : sectorSize]
	binary.LittleEndian.PutUint64(block[0:], 2)
	binary.LittleEndian.PutUint16(block[8:], uint16(nsec-1))
	binary.LittleEndian.PutUint16(block[10:], coreLoadSegment)
	return GrubBootCode{MBR: mbr, Core: core}, nil
}

// Install writes the boot code to the raw disk image at path, keeping its partition table, as grub-bios-setup
// does.
func (c GrubBootCode) Install(path string) error {
	if len(c.MBR) != MBRCodeSize || len(c.Core) == 0 || len(c.Core)%sectorSize != 0 ||
		len(c.Core)/sectorSize >= PartitionStart-1 {
		return fmt.Errorf("GRUB boot code of %d and %d bytes does not fit the disk layout", len(c.MBR), len(c.Core))
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt(c.Core, sectorSize); err != nil {
		return err
	}
	if _, err := f.WriteAt(c.MBR, 0); err != nil {
		return err
	}
	return f.Close()
}
