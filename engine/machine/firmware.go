package machine

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"paddock/engine/devices/fwcfg"
	"paddock/engine/kvm"
	"paddock/engine/x86"
)

// Firmware boot: instead of loading a kernel, the machine maps a BIOS image (SeaBIOS) where a PC's flash sits and
// lets vCPU 0 start at the reset vector. The firmware learns the machine through fw_cfg and the CMOS.

// Limits on a firmware image: whole 64 KiB blocks (flash parts come that way), at most 16 MiB so it stays clear of
// the I/O APIC and local APIC pages below it.
const (
	firmwareBlock   = 64 << 10
	firmwareMaxSize = 16 << 20
	// The BIOS shadow area, 0xC0000..0xFFFFF: a PC decodes the top 128 KiB of the flash at 0xE0000 at power-on, and
	// the firmware copies its code (which may start lower, as in a 256 KiB SeaBIOS) into RAM here.
	shadowStart = 0xC_0000
	shadowEnd   = 0x10_0000
	// debugPortQEMU is where SeaBIOS writes its debug log; a read returning debugPortReadback tells it someone listens.
	debugPortQEMU     = 0x402
	debugPortReadback = 0xe9
	// kvmReservedSize covers KVM's identity-map page and three TSS pages, below the firmware.
	kvmReservedSize = 4 * pageSize
	// capReadOnlyMem is KVM_CAP_READONLY_MEM: memory slots the guest can read but not write.
	capReadOnlyMem = 21
)

// usesFirmware says whether this machine boots through firmware rather than loading a kernel itself.
func (c *Config) usesFirmware() bool { return c.Kernel == "" && c.Firmware != "" }

// readFirmware loads and checks the firmware image once, so a reboot reads nothing.
func readFirmware(path string) ([]byte, error) {
	rom, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read firmware: %w", unwrapPathError(err))
	}
	if len(rom) == 0 || len(rom)%firmwareBlock != 0 || len(rom) > firmwareMaxSize {
		return nil, fmt.Errorf("firmware %s: %d bytes; want a whole number of 64 KiB blocks, at most %d MiB",
			path, len(rom), firmwareMaxSize>>20)
	}
	return rom, nil
}

// bootFirmware prepares a boot that starts in the firmware: the image at the top of 4 GiB (read-only where KVM
// allows), its last 256 KiB (at most) copied into RAM ending at 1 MiB, the CMOS memory bytes and the fw_cfg device.
// The firmware thus finds itself already shadowed in writable RAM, the state the chipset's PAM registers and its
// own copy produce on a PC; finding no i440FX to unlock, it says so ("Unable to unlock ram") and goes on.
func (m *Machine) bootFirmware(b *boot, slot uint32) error {
	rom := m.firmware
	host, err := unix.Mmap(-1, 0, len(rom), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("firmware memory: %w", err)
	}
	b.onClose(func() error { return unix.Munmap(host) })
	copy(host, rom)
	var flags uint32
	if b.vm.CheckExtension(capReadOnlyMem) > 0 {
		flags = kvm.MemReadOnly
	}
	if err := b.vm.SetMemoryRegion(slot, flags, x86.FirmwareTop-uint64(len(rom)), host); err != nil {
		return fmt.Errorf("map firmware: %w", err)
	}

	shadow := min(uint64(len(rom)), shadowEnd-shadowStart)
	dst, err := b.mem.Slice(shadowEnd-shadow, shadow)
	if err != nil {
		return fmt.Errorf("firmware: guest RAM does not cover the BIOS area: %w", err)
	}
	copy(dst, rom[uint64(len(rom))-shadow:])

	lowEnd, highSize := ramSplit(b)
	for idx, v := range fwcfg.SeaBIOSCMOS(lowEnd, highSize, m.cfg.CPUs) {
		if err := m.legacy.rtc.SetByte(idx, v); err != nil {
			return fmt.Errorf("firmware CMOS byte %#x: %w", idx, err)
		}
	}

	fw := fwcfg.New(b.mem, b.log)
	if err := m.configureFwCfg(fw, b, lowEnd, highSize, uint64(len(rom))); err != nil {
		return fmt.Errorf("fw_cfg: %w", err)
	}
	if err := m.attachRAMFB(b, fw); err != nil {
		return err
	}
	base, size, dev := fw.IOPorts()
	if err := b.pio.Register(base, size, dev); err != nil {
		return fmt.Errorf("fw_cfg ports: %w", err)
	}
	if err := b.pio.Register(debugPortQEMU, 1, &firmwareLog{log: b.log, onLine: m.bootWatch.line}); err != nil {
		return fmt.Errorf("firmware debug port: %w", err)
	}
	return nil
}

// configureFwCfg fills the fw_cfg items SeaBIOS reads.
func (m *Machine) configureFwCfg(fw *fwcfg.Device, b *boot, lowEnd, highSize, romSize uint64) error {
	if err := fw.SetCPUs(m.cfg.CPUs, m.cfg.CPUs); err != nil {
		return err
	}
	if err := fw.SetRAMSize(lowEnd + highSize); err != nil {
		return err
	}
	e820 := []fwcfg.E820Entry{{Addr: 0, Size: lowEnd, Type: fwcfg.E820RAM}}
	if highSize > 0 {
		e820 = append(e820, fwcfg.E820Entry{Addr: x86.HighRAMStart, Size: highSize, Type: fwcfg.E820RAM})
	}
	// KVM's pages for real mode on VMX sit just below the firmware; the OS must not use them.
	e820 = append(e820, fwcfg.E820Entry{Addr: x86.KVMIdentityMapAddr, Size: kvmReservedSize, Type: fwcfg.E820Reserved})
	if err := fw.SetE820(e820); err != nil {
		return err
	}
	// SeaBIOS mirrors its screen to this UART, so its messages reach the serial console.
	if err := fw.AddFile("etc/sercon-port", binary.LittleEndian.AppendUint16(nil, x86.PortCOM1)); err != nil {
		return err
	}
	// The boot order: by default that of a PC with an installer, the disks first (an installed system boots), then
	// the CD.
	var order []string
	kinds := m.cfg.BootOrder
	if len(kinds) == 0 {
		kinds = []string{"disk", "cdrom"}
	}
	for _, kind := range kinds {
		switch {
		case kind == "disk":
			for _, s := range b.diskSlots {
				order = append(order, fwcfg.PCIBootPath(s, 0))
			}
		case kind == "cdrom" && b.cdSlot >= 0:
			order = append(order, fwcfg.SCSIBootPath(b.cdSlot, 0, 0, 0))
		}
	}
	if len(order) > 0 {
		// Only the machine's own devices: without HALT, SeaBIOS goes on to a floppy drive the machine lacks.
		order = append(order, "HALT")
		if err := fw.SetBootOrder(order); err != nil {
			return err
		}
	}
	// The OS gets the same ACPI tables as a direct boot (power button, S5, PCI root, MADT); SeaBIOS installs them.
	tables, err := x86.ACPITables(m.cfg.CPUs)
	if err != nil {
		return err
	}
	if err := fw.SetACPITables(tables...); err != nil {
		return fmt.Errorf("ACPI tables: %w", err)
	}
	// Without a bootable device, try again after a short wait rather than SeaBIOS's minute.
	return fw.SetBootFailWait(5000)
}

// ramSplit is the RAM below 4 GiB (it starts at 0) and the RAM from 4 GiB up.
func ramSplit(b *boot) (lowEnd, highSize uint64) {
	for _, r := range b.mem.Regions() {
		if r.GPA < x86.HighRAMStart {
			lowEnd = max(lowEnd, r.GPA+uint64(len(r.Host)))
		} else {
			highSize += uint64(len(r.Host))
		}
	}
	return lowEnd, highSize
}

// firmwareLog collects what the firmware writes to its debug port and logs it line by line at debug level.
type firmwareLog struct {
	log    *slog.Logger
	onLine func(string) // sees each line too
	mu     sync.Mutex
	line   strings.Builder
}

// maxFirmwareLine bounds a line the guest never ends.
const maxFirmwareLine = 512

func (f *firmwareLog) Read(offset uint64, data []byte) {
	for i := range data {
		data[i] = debugPortReadback
	}
}

func (f *firmwareLog) Write(offset uint64, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range data {
		switch {
		case c == '\n' || f.line.Len() >= maxFirmwareLine:
			f.log.Debug("firmware", "msg", f.line.String())
			if f.onLine != nil {
				f.onLine(f.line.String())
			}
			f.line.Reset()
		case c == '\r':
		case c >= 0x20 && c < 0x7f:
			f.line.WriteByte(c)
		}
	}
}
