package machine

import (
	"errors"
	"fmt"
	"os"
)

// FirmwareImages are the BIOS images firmware boot looks for, best first: Debian's seabios package installs both;
// the 256 KiB build is the complete one (virtio-scsi CD-ROMs, more boot drivers) that QEMU loads by default.
var FirmwareImages = []string{"/usr/share/seabios/bios-256k.bin", "/usr/share/seabios/bios.bin"}

// ErrNoFirmware means no BIOS image is installed; the message names the package that brings one.
var ErrNoFirmware = errors.New("no SeaBIOS firmware found (/usr/share/seabios/bios-256k.bin); install Debian's seabios package (apt-get install seabios)")

// FindFirmware is the BIOS image to boot ISOs and installed disks with.
func FindFirmware() (string, error) {
	for _, p := range FirmwareImages {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", ErrNoFirmware
}

// NeedsFirmware says whether a VM with no kernel has something for firmware to boot, and so wants a BIOS image.
func (c *Config) NeedsFirmware() bool {
	return c.Kernel == "" && c.Firmware == "" && (c.ISO != "" || len(c.Disks) > 0)
}

// UseDefaultFirmware fills in the installed BIOS image for a VM that boots through firmware and names none.
func (c *Config) UseDefaultFirmware() error {
	if !c.NeedsFirmware() {
		return nil
	}
	fw, err := FindFirmware()
	if err != nil {
		return fmt.Errorf("boot from an ISO or disk: %w", err)
	}
	c.Firmware = fw
	return nil
}
