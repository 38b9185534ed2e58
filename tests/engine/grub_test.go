package engine_test

import (
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"paddock/tests/media"
	"paddock/tests/testenv"
)

// An installer-shaped ISO with GRUB: `paddock run --iso` boots it through SeaBIOS; GRUB's menu appears and waits;
// Enter typed on the PS/2 keyboard boots the menu entry's kernel through GRUB's `linux` command, and the guest
// reports on COM1 the command line GRUB gave it.
func TestGRUBMenuBootsTheGuestFromTheISO(t *testing.T) {
	t.Parallel()
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
	// The menu is on the screen too: its chosen entry is a bar of light cells across the text screen.
	shot := filepath.Join(t.TempDir(), "menu.png")
	deadline := time.Now().Add(10 * time.Second)
	for {
		paddock(t, env, "screenshot", name, shot).expectExit(t, 0)
		cells := highlightedCells(decodePNG(t, shot))
		if cells >= 40 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no highlighted menu entry on the screen (widest light bar: %d cells)\n%s", cells, s.describe())
		}
		time.Sleep(200 * time.Millisecond)
	}
	chooseMenuEntry(t, env, name, s)
	waitForWithin(s, "PADDOCK-GUEST-OK", bootLoaderTimeout())
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
	t.Parallel()
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
	chooseMenuEntry(t, env, name, s)
	waitForWithin(s, "PADDOCK-GUEST-OK", bootLoaderTimeout())
	if out := s.stdout.String(); !strings.Contains(out, media.GrubMenuMarker) || strings.Contains(out, "DVD/CD") {
		t.Errorf("want the guest booted by the disk's GRUB, and no CD tried\n%s", s.describe())
	}
	if s.wait() != 0 {
		t.Errorf("the guest powered off, but paddock exited with %d\n%s", s.code, s.describe())
	}
}

// highlightedCells is the longest run of character cells, on one text row of the firmware's 80x25 screen, whose
// pixels are mostly lit: a highlighted menu entry (dark text on a light bar). Text on a dark screen has none.
func highlightedCells(img image.Image) int {
	b := img.Bounds()
	best := 0
	for row := 0; row < textRows && (row+1)*cellHeight <= b.Dy(); row++ {
		run := 0
		for col := 0; col < textColumns && (col+1)*cellWidth <= b.Dx(); col++ {
			lit := 0
			for y := row * cellHeight; y < (row+1)*cellHeight; y++ {
				for x := col * cellWidth; x < (col+1)*cellWidth; x++ {
					r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
					if r>>8+g>>8+bl>>8 > 3*0x80 {
						lit++
					}
				}
			}
			if lit > cellWidth*cellHeight/2 {
				run++
				best = max(best, run)
			} else {
				run = 0
			}
		}
	}
	return best
}

// chooseMenuEntry presses Enter in GRUB's menu until GRUB starts the entry, as a person would press it again: GRUB
// drops keys typed while it sets its menu up, and on this KVM that can be some time after the menu is drawn.
func chooseMenuEntry(t *testing.T, env []string, name string, s *session) {
	t.Helper()
	deadline := time.Now().Add(bootLoaderTimeout())
	for {
		paddock(t, env, "send-keys", name, "enter").expectExit(t, 0)
		wait := time.Now().Add(20 * time.Second)
		for time.Now().Before(wait) {
			if out := ansiEscape.ReplaceAllString(s.stdout.String(), ""); strings.Contains(out, "Booting `") ||
				strings.Contains(out, "PADDOCK-GUEST-OK") {
				return
			}
			if s.exited() {
				t.Fatalf("paddock exited before GRUB booted the entry\n%s", s.describe())
			}
			time.Sleep(100 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			s.kill()
			t.Fatalf("GRUB did not start the menu entry within %v of Enter presses\n%s", bootLoaderTimeout(), s.describe())
		}
	}
}

// bootLoaderTimeout bounds GRUB's work after Enter (loading its modules and the kernel through the firmware's disk
// calls, all emulated here, and slower still while another firmware test shares the machine).
func bootLoaderTimeout() time.Duration { return 2 * firmwareTimeout() }
