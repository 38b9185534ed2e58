// Command firmware compares firmware boot on Paddock and on QEMU/KVM (-M pc) with the same SeaBIOS image, the
// same installer-shaped GRUB ISO and the same installed disk: power-on to the ISO's boot-loader menu, and power-on
// to the installed system's marker (GRUB on the disk boots the test guest, which prints it). Runs alternate between
// the VMMs; medians and ratios are printed.
//
// Usage: go run ./tests/bench/firmware [-runs N] [-timeout D]
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"paddock/engine/machine"
	"paddock/tests/guests"
	"paddock/tests/media"
	"paddock/tests/testenv"
)

type vmm struct {
	name string
	argv func(iso, disk string) []string
}

type scenario struct {
	name   string
	marker string
	iso    bool
}

func main() {
	runs := flag.Int("runs", 3, "boots per VMM and scenario")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up on a boot after this long")
	flag.Parse()
	if err := run(*runs, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "firmware:", err)
		os.Exit(1)
	}
}

func run(runs int, timeout time.Duration) error {
	bios, err := machine.FindFirmware()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "paddock-firmware-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	paddock, err := testenv.BuildPaddock(dir)
	if err != nil {
		return err
	}
	if _, err := testenv.BuildLeanVMM(dir); err != nil {
		return err
	}
	kernel, err := guests.BuildIn(dir, "hello")
	if err != nil {
		return err
	}
	iso, err := media.Build(media.GrubMenu(kernel))
	if err != nil {
		return err
	}
	// QEMU mirrors the firmware's screen to the serial line only when told to, as Paddock does by default.
	sercon := filepath.Join(dir, "sercon-port")
	if err := os.WriteFile(sercon, []byte{0xf8, 0x03}, 0o644); err != nil {
		return err
	}
	disk := filepath.Join(dir, "installed.img")
	if err := media.BuildGrubDisk(disk, kernel, media.GrubConfig("/boot/guest", 0), dir); err != nil {
		return err
	}
	vmms := []vmm{
		{"paddock", func(iso, disk string) []string {
			a := []string{paddock, "run", "--firmware", bios, "--memory", "256", "--serial", "stdio", "--no-reboot"}
			if iso != "" {
				a = append(a, "--iso", iso)
			}
			if disk != "" {
				a = append(a, "--disk", disk)
			}
			return a
		}},
		{"qemu -M pc", func(iso, disk string) []string {
			a := []string{"qemu-system-x86_64", "-M", "pc", "-enable-kvm", "-m", "256", "-bios", bios,
				"-nodefaults", "-vga", "none", "-device", "ramfb", "-display", "none", "-serial", "stdio", "-no-reboot",
				"-fw_cfg", "name=etc/sercon-port,file=" + sercon, "-device", "virtio-scsi-pci,id=scsi"}
			if iso != "" {
				a = append(a, "-drive", "if=none,id=cd,media=cdrom,readonly=on,file="+iso, "-device", "scsi-cd,drive=cd")
			}
			if disk != "" {
				a = append(a, "-drive", "if=virtio,format=raw,file="+disk)
			}
			return a
		}},
	}
	scenarios := []scenario{
		{"power-on to the ISO's GRUB menu", media.GrubMenuEntry, true},
		{"power-on to the installed system's marker", "PADDOCK-GUEST-OK", false},
	}
	for _, sc := range scenarios {
		times := map[string][]time.Duration{}
		for i := 0; i < runs; i++ {
			for _, v := range vmms {
				var argv []string
				if sc.iso {
					argv = v.argv(iso, "")
				} else {
					argv = v.argv("", disk)
				}
				d, err := timeTo(argv, sc.marker, timeout)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", v.name, sc.name, err)
				}
				times[v.name] = append(times[v.name], d)
				fmt.Printf("  %-11s %-44s run %d: %v\n", v.name, sc.name, i+1, d.Round(time.Millisecond))
			}
		}
		med := func(name string) time.Duration {
			return testenv.MedianOf(times[name], func(d time.Duration) time.Duration { return d })
		}
		p, q := med("paddock"), med("qemu -M pc")
		fmt.Printf("%s: paddock %v, qemu -M pc %v, ratio %.2f (medians of %d)\n",
			sc.name, p.Round(time.Millisecond), q.Round(time.Millisecond), testenv.Ratio(p, q), runs)
	}
	return nil
}

// terminalCodes are the escape sequences the firmware's serial mirror puts among the characters of its screen.
var terminalCodes = regexp.MustCompile(`\x1b(\[[0-9;?]*[A-Za-z]|.)`)

// timeTo starts argv and returns how long until its serial output shows marker.
func timeTo(argv []string, marker string, timeout time.Duration) (time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	found := make(chan time.Duration, 1)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		r := bufio.NewReader(out)
		var seen strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			seen.Write(buf[:n])
			if strings.Contains(terminalCodes.ReplaceAllString(seen.String(), ""), marker) {
				found <- time.Since(began)
				return
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case d := <-found:
		return d, nil
	case <-ended:
		select {
		case d := <-found:
			return d, nil
		default:
		}
		_ = cmd.Wait()
		return 0, fmt.Errorf("%s ended before %q: %s", argv[0], marker, stderr.String())
	case <-time.After(timeout):
		return 0, errors.New("timed out")
	}
}
