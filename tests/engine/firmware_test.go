package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"paddock/tests/media"
)

// seabiosImages are Debian's SeaBIOS builds: the 128 KiB one and the 256 KiB one QEMU loads by default.
var seabiosImages = []string{"/usr/share/seabios/bios.bin", "/usr/share/seabios/bios-256k.bin"}

// firmwareTimeout bounds a firmware boot: SeaBIOS runs emulated on a software KVM. The firmware tests run in
// parallel with each other (t.Parallel): each is a long boot on one vCPU, so two of them share two cores well.
func firmwareTimeout() time.Duration { return max(runTimeout(), 120*time.Second) }

// With --firmware and an empty disk, SeaBIOS starts, prints its banner on the serial console, finds nothing to boot
// and, after its retry wait, resets the machine; with --no-reboot that reset ends the run cleanly.
func TestSeaBIOSFindsNoBootableDevice(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("firmware boot takes seconds to tens of seconds; skipped in short mode")
	}
	requireKVM(t)
	for _, image := range seabiosImages {
		t.Run(filepath.Base(image), func(t *testing.T) {
			if _, err := os.Stat(image); err != nil {
				t.Skipf("SeaBIOS is not installed (apt-get install seabios): %v", err)
			}
			disk := filepath.Join(t.TempDir(), "empty.img")
			if err := os.WriteFile(disk, make([]byte, 1<<20), 0o644); err != nil {
				t.Fatal(err)
			}
			s := start(t, newEnv(t), "run", "--firmware", image, "--disk", disk, "--serial", "stdio", "--no-reboot")
			for _, want := range []string{"SeaBIOS (version ", "Booting from Hard Disk", "No bootable device", "Rebooting"} {
				waitForWithin(s, want, firmwareTimeout())
			}
			select {
			case <-s.done:
			case <-time.After(firmwareTimeout()):
				s.kill()
				t.Fatalf("paddock did not end after SeaBIOS's reset\n%s", s.describe())
			}
			if s.code != 0 {
				t.Fatalf("exit status %d after SeaBIOS reset the machine, want 0\n%s", s.code, s.describe())
			}
		})
	}
}

// Without --kernel or --firmware there is nothing to boot, and the message names both.
func TestRunNeedsKernelOrFirmware(t *testing.T) {
	r := paddock(t, newEnv(t), "run", "--serial", "none")
	r.expectCleanFailure(t, "--firmware")
}

// waitForWithin waits until the serial output contains want, up to d.
func waitForWithin(s *session, want string, d time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	// Text the firmware mirrors from its screen comes with cursor moves between the characters at times: look at
	// the text without them.
	for !strings.Contains(ansiEscape.ReplaceAllString(s.stdout.String(), ""), want) {
		if s.exited() {
			s.t.Fatalf("paddock exited (status %d) before printing %q\n%s", s.code, want, s.describe())
		}
		if time.Now().After(deadline) {
			s.kill()
			s.t.Fatalf("no %q within %v; killed paddock\n%s", want, d, s.describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A file that cannot be a BIOS image (not whole 64 KiB blocks) is refused with one line naming it.
func TestRunRefusesMalformedFirmware(t *testing.T) {
	requireKVM(t)
	bad := filepath.Join(t.TempDir(), "bios.bin")
	if err := os.WriteFile(bad, make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	r := paddock(t, newEnv(t), "run", "--firmware", bad, "--serial", "none")
	r.expectCleanFailure(t, "firmware", "64 KiB")
}

// An ISO with no El Torito boot record in the CD-ROM drive: SeaBIOS finds the drive (virtio-scsi), tries it first
// when there is no disk, and says plainly that it cannot boot from it, then moves on.
func TestSeaBIOSReportsAnUnbootableISO(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("firmware boot takes seconds to tens of seconds; skipped in short mode")
	}
	requireKVM(t)
	image := seabiosImages[1]
	if _, err := os.Stat(image); err != nil {
		t.Skipf("SeaBIOS is not installed (apt-get install seabios): %v", err)
	}
	iso := media.Get(t, media.DataOnly())
	s := start(t, newEnv(t), "run", "--firmware", image, "--iso", iso, "--serial", "stdio", "--no-reboot")
	for _, want := range []string{"SeaBIOS (version ", "Booting from DVD/CD", "Boot failed: Could not read from CDROM", "No bootable device"} {
		waitForWithin(s, want, firmwareTimeout())
	}
	select {
	case <-s.done:
	case <-time.After(firmwareTimeout()):
		s.kill()
		t.Fatalf("paddock did not end after SeaBIOS's reset\n%s", s.describe())
	}
	if s.code != 0 {
		t.Fatalf("exit status %d, want 0\n%s", s.code, s.describe())
	}
}

// The boot order of a VM with a disk and an installer: the disk first (an installed system boots), then the CD; and
// the CD first when the user says so (SeaBIOS on its own would try the disk first).
func TestSeaBIOSBootOrder(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("firmware boot takes seconds to tens of seconds; skipped in short mode")
	}
	requireKVM(t)
	image := seabiosImages[1]
	if _, err := os.Stat(image); err != nil {
		t.Skipf("SeaBIOS is not installed (apt-get install seabios): %v", err)
	}
	disk := filepath.Join(t.TempDir(), "blank.img")
	if err := os.WriteFile(disk, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	iso := media.Get(t, media.DataOnly())
	for _, c := range []struct {
		boot      string
		diskFirst bool
	}{{"", true}, {"cdrom,disk", false}} {
		args := []string{"run", "--firmware", image, "--iso", iso, "--disk", disk, "--serial", "stdio", "--no-reboot"}
		if c.boot != "" {
			args = append(args, "--boot", c.boot)
		}
		s := start(t, newEnv(t), args...)
		waitForWithin(s, "No bootable device", firmwareTimeout())
		out := s.stdout.String()
		hd, cd := strings.Index(out, "Booting from Hard Disk"), strings.Index(out, "Booting from DVD/CD")
		if hd < 0 || cd < 0 || (hd < cd) != c.diskFirst {
			t.Fatalf("--boot %q: want the disk first %v\n%s", c.boot, c.diskFirst, s.describe())
		}
		s.kill()
	}
}
