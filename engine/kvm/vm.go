package kvm

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// VM is one KVM virtual machine file descriptor.
type VM struct {
	fd  int
	sys *System
}

// Close releases the VM. vCPUs hold their own references inside the kernel.
func (vm *VM) Close() error { return unix.Close(vm.fd) }

// CheckExtension asks the VM (not the system) about a capability, as recommended since Linux 4.x.
func (vm *VM) CheckExtension(capability int) int {
	r, err := ioctl(vm.fd, reqCheckExtension, uintptr(capability))
	if err != nil {
		return 0
	}
	return int(r)
}

// Memory slot flags.
const (
	MemLogDirtyPages = 1 << 0
	MemReadOnly      = 1 << 1
)

type userspaceMemoryRegion struct {
	Slot          uint32
	Flags         uint32
	GuestPhysAddr uint64
	MemorySize    uint64
	UserspaceAddr uint64
}

// SetMemoryRegion maps host memory into guest-physical space. A zero-length host slice deletes the slot.
func (vm *VM) SetMemoryRegion(slot uint32, flags uint32, gpa uint64, host []byte) error {
	r := userspaceMemoryRegion{Slot: slot, Flags: flags, GuestPhysAddr: gpa, MemorySize: uint64(len(host))}
	if len(host) > 0 {
		r.UserspaceAddr = uint64(uintptr(unsafe.Pointer(&host[0])))
	}
	if _, err := ioctlPtr(vm.fd, reqSetUserMemoryRegion, unsafe.Pointer(&r)); err != nil {
		return fmt.Errorf("KVM_SET_USER_MEMORY_REGION slot %d at %#x (%d bytes): %w", slot, gpa, len(host), err)
	}
	return nil
}

// DirtyLog fills bitmap (one bit per 4 KiB page of the slot, 64-bit words) with the pages written since the
// previous call, and clears them in the kernel. pages is the slot's size in pages: the kernel writes that many
// bits whatever the slice's length, so a short bitmap is refused here.
func (vm *VM) DirtyLog(slot uint32, pages int, bitmap []uint64) error {
	if need := (pages + 63) / 64; len(bitmap) < need || need == 0 {
		return fmt.Errorf("dirty log of slot %d: bitmap of %d words, the slot's %d pages need %d", slot, len(bitmap), pages, need)
	}
	var d struct {
		Slot    uint32
		Padding uint32
		Bitmap  uint64
	}
	d.Slot = slot
	d.Bitmap = uint64(uintptr(unsafe.Pointer(&bitmap[0])))
	if _, err := ioctlPtr(vm.fd, reqGetDirtyLog, unsafe.Pointer(&d)); err != nil {
		return fmt.Errorf("KVM_GET_DIRTY_LOG slot %d: %w", slot, err)
	}
	return nil
}

// SetTSSAddr places the three pages Intel VMX needs for real-mode emulation.
func (vm *VM) SetTSSAddr(addr uint64) error {
	if _, err := ioctl(vm.fd, reqSetTSSAddr, uintptr(addr)); err != nil {
		return fmt.Errorf("KVM_SET_TSS_ADDR: %w", err)
	}
	return nil
}

// SetIdentityMapAddr places the identity-map page Intel VMX needs for real mode.
func (vm *VM) SetIdentityMapAddr(addr uint64) error {
	a := addr
	if _, err := ioctlPtr(vm.fd, reqSetIdentityMapAddr, unsafe.Pointer(&a)); err != nil {
		return fmt.Errorf("KVM_SET_IDENTITY_MAP_ADDR: %w", err)
	}
	return nil
}

// CreateIRQChip creates the in-kernel PIC, IOAPIC and per-vCPU local APICs.
func (vm *VM) CreateIRQChip() error {
	if _, err := ioctl(vm.fd, reqCreateIRQChip, 0); err != nil {
		return fmt.Errorf("KVM_CREATE_IRQCHIP: %w", err)
	}
	return nil
}

// CreatePIT2 creates the in-kernel i8254 timer with a dummy speaker port.
func (vm *VM) CreatePIT2() error {
	var cfg [16]uint32
	cfg[0] = 1 // KVM_PIT_SPEAKER_DUMMY
	if _, err := ioctlPtr(vm.fd, reqCreatePIT2, unsafe.Pointer(&cfg[0])); err != nil {
		return fmt.Errorf("KVM_CREATE_PIT2: %w", err)
	}
	return nil
}

// IRQLine sets the level of a GSI on the in-kernel PIC and IOAPIC.
func (vm *VM) IRQLine(gsi uint32, high bool) error {
	l := [2]uint32{gsi, 0}
	if high {
		l[1] = 1
	}
	if _, err := ioctlPtr(vm.fd, reqIRQLine, unsafe.Pointer(&l[0])); err != nil {
		return fmt.Errorf("KVM_IRQ_LINE %d=%d: %w", gsi, l[1], err)
	}
	return nil
}

// SignalMSI injects one message-signalled interrupt.
func (vm *VM) SignalMSI(address uint64, data uint32) error {
	var m struct {
		AddressLo uint32
		AddressHi uint32
		Data      uint32
		Flags     uint32
		DevID     uint32
		Pad       [12]byte
	}
	m.AddressLo = uint32(address)
	m.AddressHi = uint32(address >> 32)
	m.Data = data
	r, err := ioctlPtr(vm.fd, reqSignalMSI, unsafe.Pointer(&m))
	if err != nil {
		return fmt.Errorf("KVM_SIGNAL_MSI %#x/%#x: %w", address, data, err)
	}
	_ = r // 0 means the guest blocked it (masked); that is the guest's choice, not an error.
	return nil
}

// IRQFD makes a write to eventfd raise gsi without a trip through this process.
func (vm *VM) IRQFD(eventfd int, gsi uint32, deassign bool) error {
	var a struct {
		FD         uint32
		GSI        uint32
		Flags      uint32
		ResampleFD uint32
		Pad        [16]byte
	}
	a.FD = uint32(eventfd)
	a.GSI = gsi
	if deassign {
		a.Flags = 1
	}
	if _, err := ioctlPtr(vm.fd, reqIRQFD, unsafe.Pointer(&a)); err != nil {
		return fmt.Errorf("KVM_IRQFD gsi %d: %w", gsi, err)
	}
	return nil
}

// IOEventFD makes a guest write to addr signal eventfd instead of exiting to this process.
func (vm *VM) IOEventFD(eventfd int, addr uint64, length uint32, pio bool, deassign bool) error {
	var a struct {
		Datamatch uint64
		Addr      uint64
		Len       uint32
		FD        int32
		Flags     uint32
		Pad       [36]byte
	}
	a.Addr = addr
	a.Len = length
	a.FD = int32(eventfd)
	if pio {
		a.Flags |= 1 << 1
	}
	if deassign {
		a.Flags |= 1 << 2
	}
	if _, err := ioctlPtr(vm.fd, reqIOEventFD, unsafe.Pointer(&a)); err != nil {
		return fmt.Errorf("KVM_IOEVENTFD %#x: %w", addr, err)
	}
	return nil
}

// EnableCap turns on a VM capability with up to four arguments.
func (vm *VM) EnableCap(capability uint32, args ...uint64) error {
	var c struct {
		Cap   uint32
		Flags uint32
		Args  [4]uint64
		Pad   [64]byte
	}
	c.Cap = capability
	copy(c.Args[:], args)
	if _, err := ioctlPtr(vm.fd, reqEnableCap, unsafe.Pointer(&c)); err != nil {
		return fmt.Errorf("KVM_ENABLE_CAP %d: %w", capability, err)
	}
	return nil
}

// CreateVCPU creates vCPU number id and maps its shared run structure.
func (vm *VM) CreateVCPU(id int) (*VCPU, error) {
	fd, err := ioctl(vm.fd, reqCreateVCPU, uintptr(id))
	if err != nil {
		return nil, fmt.Errorf("KVM_CREATE_VCPU %d: %w", id, err)
	}
	unix.CloseOnExec(int(fd))
	mem, err := unix.Mmap(int(fd), 0, vm.sys.mmapSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(int(fd))
		return nil, fmt.Errorf("mmap vCPU %d run area: %w", id, err)
	}
	return &VCPU{fd: int(fd), id: id, run: mem}, nil
}
