package engine_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"paddock/tests/media"
	"paddock/tests/testenv"
)

// An installer-shaped ISO with GRUB: `paddock run --iso` boots it through SeaBIOS; GRUB's menu appears and waits;
// Enter typed on the PS/2 keyboard boots the menu entry's kernel through GRUB's `linux` command, and the guest
// reports on COM1 the command line GRUB gave it.
func TestGRUBMenuBootsTheGuestFromTheISO(t *testing.T) {
	if testing.Short() {
		t.Skip("firmware and boot-loader code is emulated on a software KVM: tens of seconds; skipped in short mode")
	}
	requireKVM(t)
	testenv.RequireFirmware(t)
	iso := media.Get(t, media.GrubMenu(buildGuest(t, "hello")))
	env := newEnv(t)
	name := fmt.Sprintf("grub-%d", os.Getpid())
	s := start(t, env, "run", "--iso", iso, "--memory", "256", "--serial", "stdio", "--no-reboot", "--name", name)
	defer s.kill()
	waitForWithin(s, "Booting from DVD/CD", firmwareTimeout())
	waitForWithin(s, media.GrubMenuEntry, firmwareTimeout())
	if strings.Contains(s.stdout.String(), "PADDOCK-GUEST-OK") {
		t.Fatalf("the guest booted before anyone chose the menu entry\n%s", s.describe())
	}
	paddock(t, env, "send-keys", name, "enter").expectExit(t, 0)
	waitForWithin(s, "PADDOCK-GUEST-OK", firmwareTimeout())
	out := s.stdout.String()
	if !strings.Contains(out, media.GrubMenuMarker) {
		t.Errorf("the guest's command line lacks %q: GRUB did not boot it with the menu's line\n%s", media.GrubMenuMarker, s.describe())
	}
	if s.wait() != 0 {
		t.Errorf("the guest powered off, but paddock exited with %d\n%s", s.code, s.describe())
	}
}

// A disk made bootable the way an installer does it (GRUB in the MBR and its gap, /boot on a FAT partition): with
// no ISO, the VM boots from that disk alone, through GRUB's menu, to the guest.
func TestInstalledDiskBootsThroughGRUB(t *testing.T) {
	if testing.Short() {
		t.Skip("firmware and boot-loader code is emulated on a software KVM: tens of seconds; skipped in short mode")
	}
	requireKVM(t)
	testenv.RequireFirmware(t)
	disk := media.GrubDisk(t, buildGuest(t, "hello"))
	env := newEnv(t)
	name := fmt.Sprintf("disk-%d", os.Getpid())
	s := start(t, env, "run", "--disk", disk, "--memory", "256", "--serial", "stdio", "--no-reboot", "--name", name)
	defer s.kill()
	waitForWithin(s, "Booting from Hard Disk", firmwareTimeout())
	waitForWithin(s, media.GrubMenuEntry, firmwareTimeout())
	paddock(t, env, "send-keys", name, "enter").expectExit(t, 0)
	waitForWithin(s, "PADDOCK-GUEST-OK", firmwareTimeout())
	if out := s.stdout.String(); !strings.Contains(out, media.GrubMenuMarker) || strings.Contains(out, "DVD/CD") {
		t.Errorf("want the guest booted by the disk's GRUB, and no CD tried\n%s", s.describe())
	}
	if s.wait() != 0 {
		t.Errorf("the guest powered off, but paddock exited with %d\n%s", s.code, s.describe())
	}
}
