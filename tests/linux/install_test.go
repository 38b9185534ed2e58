package linux_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"paddock/tests/media"
)

// Firmware boot of the Linux guest from media, as users boot installers: through SeaBIOS and the media's own GRUB.

// grubConfig is a grub.cfg that boots the guest's /boot/vmlinuz and /boot/initramfs.cpio.gz at once with the
// kernel command-line words, its menu also on the serial port (so a failing test's output shows GRUB's errors).
func grubConfig(words string) string {
	return "serial --unit=0 --speed=115200\nterminal_input console serial\nterminal_output console serial\n" +
		"set timeout=0\nset default=0\n" +
		"menuentry 'Paddock test guest' {\n" +
		"  linux /boot/vmlinuz console=ttyS0 panic=-1 " + words + "\n" +
		"  initrd /boot/initramfs.cpio.gz\n" +
		"}\n"
}

// guestISO is a grub-mkrescue ISO (cached by its contents) whose GRUB boots the Linux guest running test, with
// hostFiles and files added to it.
func guestISO(t *testing.T, name, test string, hostFiles, files map[string]string) string {
	t.Helper()
	ready(t)
	spec := media.Spec{Name: name, VolumeID: strings.ToUpper(strings.ReplaceAll(name, "-", "_")), Boot: media.GrubRescue,
		HostFiles: map[string]string{
			"boot/vmlinuz":           filepath.Join(guestDir, "vmlinuz"),
			"boot/initramfs.cpio.gz": filepath.Join(guestDir, "initramfs.cpio.gz"),
		},
		Files: map[string]string{"boot/grub/grub.cfg": grubConfig("paddock.test=" + test)},
	}
	for k, v := range hostFiles {
		spec.HostFiles[k] = v
	}
	for k, v := range files {
		spec.Files[k] = v
	}
	return media.Get(t, spec)
}

func fileDigest(t *testing.T, path string) (string, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

var sr0Report = regexp.MustCompile(`PADDOCK-TEST sr0 PASS sha256=([0-9a-f]{64}) bytes=(\d+)`)

// A live ISO: SeaBIOS boots its GRUB from the virtio-scsi CD-ROM, GRUB loads the kernel and initramfs from the CD,
// and the kernel finds its CD as /dev/sr0 and reads it whole, byte for byte the ISO file.
func TestLiveISO(t *testing.T) {
	iso := guestISO(t, "linux-live", "sr0", nil, nil)
	v := start(t, newEnv(t), "run", "--iso", iso, "--serial", "stdio")
	v.waitFor("PADDOCK-TEST sr0 PASS")
	v.exitsCleanly()
	m := sr0Report.FindStringSubmatch(v.out.String())
	if m == nil {
		t.Fatalf("no sr0 report\n%s", v.describe())
	}
	want, size := fileDigest(t, iso)
	if n, _ := strconv.ParseInt(m[2], 10, 64); n != size {
		t.Errorf("the guest read %d bytes from /dev/sr0; the ISO has %d", n, size)
	}
	if m[1] != want {
		t.Errorf("/dev/sr0 reads with SHA-256 %s in the guest; the ISO's is %s", m[1], want)
	}
}

// installedGrubConfig is the grub.cfg the installer puts on the disk.
var installedGrubConfig = grubConfig("paddock.test=installed paddock.loader=disk")

// installerISO is the installer's ISO: the guest booting the install test, and under /install what it installs
// besides the CD's own kernel, initramfs and GRUB modules: the disk's grub.cfg and GRUB's boot code for the MBR
// and the gap after it, prepared here as grub-install would.
func installerISO(t *testing.T) (string, media.GrubBootCode) {
	t.Helper()
	ready(t)
	if missing := media.GrubDiskMissing(); len(missing) > 0 {
		msg := "the installer ISO needs Debian packages: " + strings.Join(missing, ", ")
		if os.Getenv("PADDOCK_REQUIRE_MEDIA") == "1" {
			t.Fatal(msg + "; PADDOCK_REQUIRE_MEDIA=1 makes this a failure")
		}
		t.Skip(msg)
	}
	work := t.TempDir()
	code, err := media.NewGrubBootCode(work)
	if err != nil {
		t.Fatalf("building GRUB's boot code: %v", err)
	}
	bootImg, coreImg := filepath.Join(work, "boot.img"), filepath.Join(work, "core.img")
	if err := os.WriteFile(bootImg, code.MBR, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(coreImg, code.Core, 0o644); err != nil {
		t.Fatal(err)
	}
	iso := guestISO(t, "linux-installer", "install",
		map[string]string{"install/boot.img": bootImg, "install/core.img": coreImg},
		map[string]string{"install/grub.cfg": installedGrubConfig})
	return iso, code
}

// checkInstalledDisk checks the disk as the installer must leave it: GRUB's boot code in the MBR and the gap,
// one bootable FAT32 partition from sector 2048 to the end holding /boot with the CD's kernel and the disk's
// grub.cfg (read with mtools, as GRUB would, without the guest).
func checkInstalledDisk(t *testing.T, disk string, code media.GrubBootCode) {
	t.Helper()
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 512+len(code.Core))
	if _, err := f.ReadAt(head, 0); err != nil {
		t.Fatal(err)
	}
	mbr := head[:512]
	if !bytes.Equal(mbr[:media.MBRCodeSize], code.MBR) {
		t.Errorf("the MBR's boot code is not GRUB's boot.img as prepared")
	}
	if !bytes.Equal(head[512:], code.Core) {
		t.Errorf("sectors 1 to %d do not hold GRUB's core.img", len(code.Core)/512)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xaa {
		t.Errorf("the MBR has no boot signature: % x", mbr[510:])
	}
	p := mbr[0x1be:0x1ce]
	startLBA, sectors := binary.LittleEndian.Uint32(p[8:]), binary.LittleEndian.Uint32(p[12:])
	if p[0] != 0x80 || p[4] != 0x0c || startLBA != media.PartitionStart || int64(startLBA+sectors) != fi.Size()/512 {
		t.Errorf("partition 1: flag %#x type %#x sectors %d+%d; want a bootable FAT32 (0xc) partition from %d to "+
			"the disk's end (%d)", p[0], p[4], startLBA, sectors, media.PartitionStart, fi.Size()/512)
	}
	part := disk + "@@" + strconv.Itoa(media.PartitionStart*512)
	cfg, err := exec.Command("mtype", "-i", part, "::/boot/grub/grub.cfg").CombinedOutput()
	if err != nil || string(cfg) != installedGrubConfig {
		t.Errorf("/boot/grub/grub.cfg on the installed partition: %v\n%s", err, cfg)
	}
	kernel := filepath.Join(t.TempDir(), "vmlinuz")
	if out, err := exec.Command("mcopy", "-i", part, "::/boot/vmlinuz", kernel).CombinedOutput(); err != nil {
		t.Errorf("reading /boot/vmlinuz from the installed partition: %v\n%s", err, out)
	} else if got, _ := fileDigest(t, kernel); got != guestKernelDigest(t) {
		t.Errorf("the installed /boot/vmlinuz differs from the guest's kernel")
	}
}

func guestKernelDigest(t *testing.T) string {
	t.Helper()
	sum, _ := fileDigest(t, filepath.Join(guestDir, "vmlinuz"))
	return sum
}

// The drag-and-drop-ISO story end to end: with a blank disk the firmware boots the installer's CD; its init
// partitions the disk, makes a FAT filesystem, copies the system and installs GRUB, and reboots, which ends a run
// with --no-reboot. Then, with the ISO ejected, the VM boots the installed system from the disk alone.
func TestInstallFromISO(t *testing.T) {
	iso, code := installerISO(t)
	disk := filepath.Join(t.TempDir(), "blank.img")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// FAT32 (all busybox's mkdosfs makes) needs at least 65525 clusters: 128 MiB leaves room.
	if err := os.Truncate(disk, 128<<20); err != nil {
		t.Fatal(err)
	}
	env := newEnv(t)

	install := start(t, env, "run", "--iso", iso, "--disk", disk, "--no-reboot", "--serial", "stdio")
	install.waitFor("PADDOCK-TEST install PASS")
	install.exitsCleanly()
	checkInstalledDisk(t, disk, code)
	if t.Failed() {
		t.Fatalf("the installer's run:\n%s", install.describe())
	}

	installed := start(t, env, "run", "--disk", disk, "--serial", "stdio")
	installed.waitFor("PADDOCK-TEST installed PASS")
	installed.exitsCleanly()
	if want := "loader=disk kernel=" + guestKernelDigest(t); !strings.Contains(installed.out.String(), want) {
		t.Errorf("the installed system's report lacks %q\n%s", want, installed.describe())
	}
}
