// Package machine assembles one virtual PC from the engine's parts (KVM, guest RAM, legacy devices, PCI with
// virtio, firmware tables), boots it, runs its vCPUs and turns what the guest does (power off, reset, a fault)
// into an outcome.
package machine

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"paddock/engine/control"
)

// Disk is one virtio-blk disk backed by a raw image file.
type Disk struct {
	Path     string
	ReadOnly bool
}

// CPU models.
const (
	CPUModelAuto     = ""         // host when there is hardware virtualization, baseline otherwise
	CPUModelHost     = "host"     // everything KVM can offer
	CPUModelBaseline = "baseline" // hides extensions a software KVM cannot emulate
)

// Limits on what a VM may ask for.
const (
	MinMemoryMiB = 16
	MaxCPUs      = 255 // xAPIC IDs are 8 bits and 255 is broadcast
)

// Config is the complete, immutable description of a VM to run.
type Config struct {
	Name      string
	Kernel    string
	Initrd    string
	Cmdline   string
	CPUs      int
	MemoryMiB int
	Disks     []Disk
	CPUModel  string
	// ScreenWidth and ScreenHeight size the guest's linear framebuffer; zero picks DefaultScreen.
	ScreenWidth, ScreenHeight int
	// NoReboot ends Run when the guest resets, instead of restarting it.
	NoReboot bool
	// Console receives the guest's COM1 output; nil discards it.
	Console io.Writer
	// KVMPath is the KVM device, /dev/kvm unless a test says otherwise.
	KVMPath string
	// Firmware is a BIOS image (SeaBIOS's bios.bin); with no Kernel, the machine boots through it.
	Firmware string
	// ISO is an image in the CD-ROM drive (virtio-scsi); empty leaves no drive.
	ISO string
	// BootOrder lists "disk" and "cdrom" in the order firmware tries them; empty means disk, then CD.
	BootOrder []string
	// Shares are host folders offered to the guest over virtio-9p, each served by its own share server.
	Shares []Share
}

// Defaults for what a caller may leave out. CPUs and memory have none here: zero is an error, not a request.
func (c *Config) Defaults() {
	if c.KVMPath == "" {
		c.KVMPath = "/dev/kvm"
	}
	if c.Console == nil {
		c.Console = io.Discard
	}
}

// MaxVCPUs is the largest --cpus this host allows: its own CPU count, but at least 8.
func MaxVCPUs() int {
	n := runtime.NumCPU()
	if n < 8 {
		n = 8
	}
	if n > MaxCPUs {
		n = MaxCPUs
	}
	return n
}

// Validate checks everything that can be checked before touching KVM, so that bad input fails with one clear
// line before any guest state exists.
func (c *Config) Validate() error {
	if c.Name != "" {
		if err := control.ValidateName(c.Name); err != nil {
			return err
		}
	}
	// Firmware boot: a firmware image instead of a kernel.
	if c.usesFirmware() {
		if err := readableFile(c.Firmware, "firmware"); err != nil {
			return err
		}
	} else {
		if c.Kernel == "" {
			return errors.New("nothing to boot: give a kernel (--kernel PATH), or an ISO or disk to boot through firmware (--iso PATH, --disk PATH, --firmware PATH)")
		}
		if err := readableFile(c.Kernel, "kernel"); err != nil {
			return err
		}
	}
	if c.Initrd != "" {
		if err := readableFile(c.Initrd, "initrd"); err != nil {
			return err
		}
	}
	if max := MaxVCPUs(); c.CPUs < 1 || c.CPUs > max {
		return fmt.Errorf("--cpus %d: must be between 1 and %d on this host", c.CPUs, max)
	}
	if c.MemoryMiB < MinMemoryMiB {
		return fmt.Errorf("--memory %d MiB is too small: a guest needs at least %d MiB", c.MemoryMiB, MinMemoryMiB)
	}
	if total, err := HostMemoryMiB(); err == nil && uint64(c.MemoryMiB) > total {
		return fmt.Errorf("--memory %d MiB is more than this host has (%d MiB)", c.MemoryMiB, total)
	}
	if _, err := c.screenMode(); err != nil {
		return fmt.Errorf("--resolution: %w", err)
	}
	switch c.CPUModel {
	case CPUModelAuto, CPUModelHost, CPUModelBaseline:
	default:
		return fmt.Errorf("--cpu %q: want %q or %q", c.CPUModel, CPUModelHost, CPUModelBaseline)
	}
	for _, b := range c.BootOrder {
		if b != "disk" && b != "cdrom" {
			return fmt.Errorf("boot order %q: want disk or cdrom", b)
		}
	}
	if c.ISO != "" {
		if err := readableFile(c.ISO, "ISO"); err != nil {
			return err
		}
	}
	if err := validateShares(c.Shares); err != nil {
		return err
	}
	for _, d := range c.Disks {
		fi, err := os.Stat(d.Path)
		if err != nil {
			return fmt.Errorf("disk %s: %w", d.Path, unwrapPathError(err))
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("disk %s: not a regular file (raw image files only)", d.Path)
		}
	}
	return nil
}

func readableFile(path, what string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, path, unwrapPathError(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s %s: not a regular file", what, path)
	}
	if fi.Size() == 0 {
		return fmt.Errorf("%s %s: the file is empty", what, path)
	}
	return nil
}

// unwrapPathError drops the *PathError wrapper whose path the caller already names.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// HostMemoryMiB is the host's physical memory, MemTotal in /proc/meminfo.
func HostMemoryMiB() (uint64, error) {
	v, err := meminfo("MemTotal")
	return v >> 10, err
}

// meminfo returns one /proc/meminfo field in KiB.
func meminfo(field string) (uint64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok || k != field {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/meminfo %s: %w", field, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("/proc/meminfo has no %s", field)
}

// HostAvailableMiB is the host memory available for new work, from MemAvailable.
func HostAvailableMiB() (uint64, error) {
	v, err := meminfo("MemAvailable")
	return v >> 10, err
}
