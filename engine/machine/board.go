package machine

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"paddock/engine/bus"
	"paddock/engine/devices/acpipm"
	"paddock/engine/devices/i8042"
	"paddock/engine/devices/rtc"
	"paddock/engine/devices/serial"
	"paddock/engine/devices/sink"
	"paddock/engine/devices/syscontrol"
	"paddock/engine/guestmem"
	"paddock/engine/kvm"
	"paddock/engine/pci"
	"paddock/engine/virtio"
	"paddock/engine/virtio/blk"
	"paddock/engine/virtio/input"
	"paddock/engine/virtio/rng"
	"paddock/engine/virtio/scsi"
	"paddock/engine/x86"
)

// gsiLine is a legacy interrupt line wired to whichever KVM VM is the current boot's.
type gsiLine struct {
	gsi uint32
	vm  *atomic.Pointer[kvm.VM]
	log *slog.Logger
}

func (l gsiLine) Set(high bool) {
	if vm := l.vm.Load(); vm != nil {
		if err := vm.IRQLine(l.gsi, high); err != nil {
			l.log.Warn("interrupt line", "gsi", l.gsi, "err", err)
		}
	}
}

// legacyDevices are the PC's fixed devices. They outlive a guest reset, as on a real PC: the CMOS keeps its RAM
// and the serial line keeps its host end.
type legacyDevices struct {
	vm     atomic.Pointer[kvm.VM]
	serial *serial.UART
	i8042  *i8042.Controller
	rtc    *rtc.RTC
	pm     *acpipm.PM

	postCodes  *sink.Sink
	sysControl *syscontrol.PortA
	sharesMu   sync.Mutex      // guards shares: shares are added and revoked while the VM runs
	shares     []*sharedFolder // folder shares' connections to their servers
}

func newLegacyDevices(m *Machine) *legacyDevices {
	d := &legacyDevices{}
	line := func(gsi uint32) gsiLine { return gsiLine{gsi: gsi, vm: &d.vm, log: m.log} }
	d.serial = serial.New(serial.Config{IRQ: line(x86.IRQCOM1), Output: m.cfg.Console, Logger: m.log})
	d.i8042 = i8042.New(i8042.Config{
		KeyboardIRQ: line(x86.IRQKeyboard), MouseIRQ: line(x86.IRQMouse), Logger: m.log,
		ResetCPU: func() { m.guestEvent(eventReset) },
	})
	d.rtc = rtc.New(rtc.Config{IRQ: line(x86.IRQRTC)})
	d.postCodes = sink.New(0xff)
	d.sysControl = syscontrol.New(func() { m.guestEvent(eventReset) })
	d.pm = acpipm.New(acpipm.Config{SCI: line(x86.IRQACPISCI), PowerOff: func() { m.guestEvent(eventPowerOff) }, Logger: m.log})
	d.shares = newSharedFolders(m.cfg.Shares, m.log)
	return d
}

// attach wires the devices to a new boot's VM and port bus.
func (d *legacyDevices) attach(vm *kvm.VM, pio *bus.Bus) error {
	d.vm.Store(vm)
	for _, r := range []struct {
		port, size uint64
		dev        bus.Device
	}{
		{x86.PortCOM1, 8, d.serial},
		{x86.PortI8042, 1, d.i8042.DataPort()},
		{x86.PortI8042 + 4, 1, d.i8042.CommandPort()},
		{x86.PortRTC, rtc.Size, d.rtc},
		{x86.PortACPIPM1aEvent, acpipm.EventBlockSize, d.pm.EventBlock()},
		{x86.PortACPIPM1aControl, acpipm.ControlBlockSize, d.pm.ControlBlock()},
		{0x80, 1, d.postCodes}, // POST codes; also an I/O delay port
		{0xED, 1, d.postCodes}, // the other I/O delay port
		{syscontrol.Port, 1, d.sysControl},
	} {
		if err := pio.Register(r.port, r.size, r.dev); err != nil {
			return fmt.Errorf("legacy device at port %#x: %w", r.port, err)
		}
	}
	return nil
}

// reset puts the devices in their power-on state for the next boot, keeping CMOS RAM.
func (d *legacyDevices) reset() {
	d.vm.Store(nil)
	d.serial.Reset()
	d.i8042.Reset()
	d.pm.Reset()
	d.rtc.Reset()
}

func (d *legacyDevices) pressPowerButton() { d.pm.PressPowerButton() }
func (d *legacyDevices) serialInput(p []byte) {
	d.serial.Input(p)
}

func (d *legacyDevices) close() {
	d.vm.Store(nil)
	d.serial.Close()
	d.rtc.Close()
	closeSharedFolders(d.shares)
}

// guestEvent ends the current boot because of something the guest did through a device.
func (m *Machine) guestEvent(ev event) {
	m.mu.Lock()
	b := m.cur
	m.mu.Unlock()
	if b != nil {
		b.finish(ev, nil)
	}
}

// ramRanges lays guest RAM out around the MMIO hole.
func ramRanges(memMiB int) []guestmem.Range {
	size := uint64(memMiB) << 20
	low := size
	if low > x86.MMIOHoleStart {
		low = x86.MMIOHoleStart
	}
	rs := []guestmem.Range{{GPA: 0, Size: low}}
	if size > low {
		rs = append(rs, guestmem.Range{GPA: x86.HighRAMStart, Size: size - low})
	}
	return rs
}

// newBoot builds a powered-on PC: VM, RAM, devices, kernel and tables loaded, vCPUs at their entry state.
func (m *Machine) newBoot() (b *boot, err error) {
	b = &boot{m: m, log: m.log, pio: &bus.Bus{}, mmio: &bus.Bus{}, events: make(chan outcomeEvent, 1), cdSlot: -1}
	defer func() {
		if err != nil {
			b.close()
			b = nil
		}
	}()
	if b.vm, err = m.sys.CreateVM(); err != nil {
		return b, err
	}
	b.onClose(b.vm.Close)
	if err = m.setupInterrupts(b.vm); err != nil {
		return b, err
	}
	if b.mem, err = guestmem.Allocate(ramRanges(m.cfg.MemoryMiB)...); err != nil {
		return b, err
	}
	b.onClose(b.mem.Close)
	for i, r := range b.mem.Regions() {
		if err = b.vm.SetMemoryRegion(uint32(i), 0, r.GPA, r.Host); err != nil {
			return b, err
		}
	}
	fb, err := b.attachFramebuffer(uint32(len(b.mem.Regions())))
	if err != nil {
		return b, err
	}
	if err = m.legacy.attach(b.vm, b.pio); err != nil {
		return b, err
	}
	if err = m.attachPCI(b); err != nil {
		return b, err
	}
	// Firmware boot: the firmware builds the tables and loads the OS; vCPU 0 starts at the reset vector.
	if m.cfg.usesFirmware() {
		if err = m.bootFirmware(b, uint32(len(b.mem.Regions()))+1); err != nil {
			return b, err
		}
		return b, m.createVCPUs(b, x86.BootInfo{})
	}
	rsdp, err := x86.WriteTables(b.mem, m.cfg.CPUs)
	if err != nil {
		return b, fmt.Errorf("write firmware tables: %w", err)
	}
	info, err := x86.LoadKernel(b.mem, m.kernel, m.initrd, m.cfg.Cmdline, x86.LoadOptions{RSDP: rsdp, Framebuffer: fb})
	if err != nil {
		return b, fmt.Errorf("load kernel %s: %w", m.cfg.Kernel, err)
	}
	return b, m.createVCPUs(b, info)
}

// setupInterrupts creates the in-kernel interrupt controllers and timer, wired as on a PC.
func (m *Machine) setupInterrupts(vm *kvm.VM) error {
	if err := vm.SetTSSAddr(x86.KVMTSSAddr); err != nil {
		return err
	}
	if err := vm.SetIdentityMapAddr(x86.KVMIdentityMapAddr); err != nil {
		return err
	}
	if err := vm.CreateIRQChip(); err != nil {
		return err
	}
	if err := vm.SetGSIRouting(kvm.PCRouting()); err != nil {
		return err
	}
	if err := vm.CreatePIT2(); err != nil {
		return err
	}
	// With this, an emulation failure reports the instruction bytes; older kernels lack it, which only costs detail.
	if vm.CheckExtension(kvm.CapExitOnEmulationFailure) > 0 {
		if err := vm.EnableCap(kvm.CapExitOnEmulationFailure, 1); err != nil {
			m.log.Debug("cannot enable exit on emulation failure", "err", err)
		}
	}
	return nil
}

// attachPCI puts the PCI host bridge and the virtio devices on the buses.
func (m *Machine) attachPCI(b *boot) error {
	root := pci.NewRoot(b.mmio, m.log)
	b.onClose(root.Close) // closes every function added to it, stopping the device workers
	// 0xCF9 (reset control) sits inside the configuration ports' range.
	ports := newResetControlPort(root.ConfigPorts(), func() { m.guestEvent(eventReset) })
	if err := b.pio.Register(x86.PortPCIConfig, 8, ports); err != nil {
		return fmt.Errorf("PCI configuration ports: %w", err)
	}
	slot := -1 // the PCI slot the last add took, for the firmware's boot order
	add := func(dev virtio.Device, what string) error {
		fn, err := virtio.NewPCI(dev, b.mem, b.vm, m.log)
		if err != nil {
			dev.Close()
			return fmt.Errorf("%s: %w", what, err)
		}
		if slot, err = root.AddSlot(fn); err != nil {
			fn.Close()
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	for i, d := range m.cfg.Disks {
		f, err := dupFile(m.disks[i])
		if err != nil {
			return fmt.Errorf("disk %s: %w", d.Path, err)
		}
		disk, err := blk.New(f, blk.Options{ReadOnly: d.ReadOnly, Serial: fmt.Sprintf("paddock%d", i)})
		if err != nil {
			f.Close()
			return fmt.Errorf("disk %s: %w", d.Path, err)
		}
		if err := add(disk, "disk "+d.Path); err != nil {
			return err
		}
		b.diskSlots = append(b.diskSlots, slot)
	}
	// Under the lock: ChangeMedia may be swapping the image and closing the old one.
	m.mu.Lock()
	drive := m.hasDrive()
	var cdImage *os.File
	var err error
	if m.iso != nil {
		cdImage, err = dupFile(m.iso)
	}
	b.cdSource = m.iso
	m.mu.Unlock()
	if err != nil {
		return fmt.Errorf("CD-ROM image: %w", err)
	}
	if drive {
		opts := scsi.Options{ISOFile: cdImage}
		cd, err := scsi.New(opts)
		if err != nil {
			if opts.ISOFile != nil {
				opts.ISOFile.Close()
			}
			return fmt.Errorf("CD-ROM: %w", err)
		}
		if err := add(cd, "CD-ROM"); err != nil {
			return err
		}
		b.cd = cd
		b.cdSlot = slot
	}
	cons, err := m.newConsole(b)
	if err != nil {
		return fmt.Errorf("virtio console: %w", err)
	}
	if err := add(cons, "virtio console"); err != nil {
		return err
	}
	b.tablet = input.NewTablet()
	if err := add(b.tablet, "virtio tablet"); err != nil {
		return err
	}
	if err := m.attachShares(add); err != nil {
		return err
	}
	return add(rng.New(), "virtio rng")
}

// dupFile gives a boot its own descriptor of a file the machine opened once: the open file (and its lock) is shared,
// and opening nothing anew keeps working inside the sandbox.
func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// createVCPUs makes the vCPUs: all get the CPU model, the boot CPU gets the kernel's entry state, and the others
// wait in KVM's reset state for the guest's INIT/SIPI.
func (m *Machine) createVCPUs(b *boot, info x86.BootInfo) error {
	model := x86.HostModel
	if m.model == CPUModelBaseline {
		model = x86.Baseline
	}
	for i := 0; i < m.cfg.CPUs; i++ {
		cpu, err := b.vm.CreateVCPU(i)
		if err != nil {
			return err
		}
		b.onClose(cpu.Close)
		cpuid := x86.GuestCPUID(m.cpuid, i, m.cfg.CPUs, model)
		if err := cpu.SetCPUID(cpuid); err != nil {
			return fmt.Errorf("vCPU %d: %w", i, err)
		}
		if err := cpu.SetMSRs(x86.BootMSRs(cpuid)); err != nil {
			return fmt.Errorf("vCPU %d: %w", i, err)
		}
		if err := setLAPICLines(cpu); err != nil {
			return fmt.Errorf("vCPU %d: %w", i, err)
		}
		if i == 0 && !m.cfg.usesFirmware() { // firmware boot: vCPU 0 stays at the reset vector
			sregs, err := cpu.Sregs()
			if err != nil {
				return err
			}
			regs, sregs := x86.BootCPUState(info, sregs)
			if err := cpu.SetSregs(sregs); err != nil {
				return err
			}
			if err := cpu.SetRegs(regs); err != nil {
				return err
			}
			if err := cpu.SetFPU(kvm.FPU{FCW: 0x37f, MXCSR: 0x1f80}); err != nil {
				return err
			}
		}
		b.vcpus = append(b.vcpus, &vcpuThread{cpu: cpu, done: make(chan struct{})})
	}
	return nil
}

// setLAPICLines wires LINT0 to the 8259 (ExtINT) and LINT1 to NMI, as a BIOS leaves a PC's local APICs.
func setLAPICLines(cpu *kvm.VCPU) error {
	l, err := cpu.LAPIC()
	if err != nil {
		return err
	}
	const lvtLINT0, lvtLINT1 = 0x350, 0x360
	const modeExtINT, modeNMI = 7 << 8, 4 << 8
	set := func(off int, mode uint32) {
		v := uint32(l[off]) | uint32(l[off+1])<<8 | uint32(l[off+2])<<16 | uint32(l[off+3])<<24
		v = v&^(7<<8) | mode
		l[off], l[off+1], l[off+2], l[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	set(lvtLINT0, modeExtINT)
	set(lvtLINT1, modeNMI)
	return cpu.SetLAPIC(l)
}
