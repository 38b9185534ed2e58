// Package kvm wraps the /dev/kvm ioctl interface (Documentation/virt/kvm/api.rst) in typed Go calls.
//
// It knows nothing about machines or devices: it opens KVM, creates VMs and vCPUs, and moves the kernel's
// structures in and out. Struct layouts mirror <linux/kvm.h> for x86-64.
package kvm

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

const kvmio = 0xAE

func ioc(dir, nr, size uintptr) uintptr { return dir<<30 | size<<16 | kvmio<<8 | nr }
func io(nr uintptr) uintptr             { return ioc(0, nr, 0) }
func iow(nr, size uintptr) uintptr      { return ioc(1, nr, size) }
func ior(nr, size uintptr) uintptr      { return ioc(2, nr, size) }
func iowr(nr, size uintptr) uintptr     { return ioc(3, nr, size) }

var (
	reqGetAPIVersion       = io(0x00)
	reqCreateVM            = io(0x01)
	reqCheckExtension      = io(0x03)
	reqGetVCPUMmapSize     = io(0x04)
	reqGetSupportedCPUID   = iowr(0x05, 8)
	reqCreateVCPU          = io(0x41)
	reqGetDirtyLog         = iow(0x42, 16)
	reqSetUserMemoryRegion = iow(0x46, 32)
	reqSetTSSAddr          = io(0x47)
	reqSetIdentityMapAddr  = iow(0x48, 8)
	reqCreateIRQChip       = io(0x60)
	reqIRQLine             = iow(0x61, 8)
	reqSetGSIRouting       = iow(0x6a, 8)
	reqIRQFD               = iow(0x76, 32)
	reqCreatePIT2          = iow(0x77, 64)
	reqIOEventFD           = iow(0x79, 64)
	reqEnableCap           = iow(0xa3, 104)
	reqSignalMSI           = iow(0xa5, 32)
	reqRun                 = io(0x80)
	reqGetRegs             = ior(0x81, 144)
	reqSetRegs             = iow(0x82, 144)
	reqGetSregs            = ior(0x83, 312)
	reqSetSregs            = iow(0x84, 312)
	reqTranslate           = iowr(0x85, 24)
	reqSetMSRs             = iow(0x89, 8)
	reqSetFPU              = iow(0x8d, 416)
	reqGetLAPIC            = ior(0x8e, 1024)
	reqSetLAPIC            = iow(0x8f, 1024)
	reqSetCPUID2           = iow(0x90, 8)
	reqGetMPState          = ior(0x98, 4)
	reqSetMPState          = iow(0x99, 4)
)

// ioctl issues one ioctl, retrying on EINTR only where the caller says the call is restartable.
func ioctl(fd int, req uintptr, arg uintptr) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
	if errno != 0 {
		return r, errno
	}
	return r, nil
}

// ioctlPtr passes a pointer argument. The pointer stays valid for the duration of the syscall.
func ioctlPtr(fd int, req uintptr, p unsafe.Pointer) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(p))
	if errno != 0 {
		return r, errno
	}
	return r, nil
}

// Capability numbers from <linux/kvm.h> the engine asks about.
const (
	CapIRQChip                = 0
	CapHLT                    = 1
	CapUserMemory             = 3
	CapSetTSSAddr             = 4
	CapExtCPUID               = 7
	CapPIT2                   = 33
	CapIRQRouting             = 25
	CapIRQInjectStatus        = 26
	CapSetIdentityMapAddr     = 37
	CapIRQFD                  = 32
	CapIOEventFD              = 36
	CapSignalMSI              = 77
	CapImmediateExit          = 136
	CapNrVCPUs                = 9
	CapMaxVCPUs               = 66
	CapExitOnEmulationFailure = 204
)

// System is an open /dev/kvm.
type System struct {
	fd       int
	mmapSize int
}

// Open opens the KVM device and checks the API version.
func Open(path string) (*System, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &System{fd: fd}
	v, err := ioctl(fd, reqGetAPIVersion, 0)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("KVM_GET_API_VERSION: %w", err)
	}
	if v != 12 {
		s.Close()
		return nil, fmt.Errorf("KVM API version %d, want 12", v)
	}
	n, err := ioctl(fd, reqGetVCPUMmapSize, 0)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("KVM_GET_VCPU_MMAP_SIZE: %w", err)
	}
	s.mmapSize = int(n)
	return s, nil
}

// Close releases the device.
func (s *System) Close() error { return unix.Close(s.fd) }

// CheckExtension returns the KVM_CHECK_EXTENSION value for cap (0 means absent).
func (s *System) CheckExtension(capability int) int {
	r, err := ioctl(s.fd, reqCheckExtension, uintptr(capability))
	if err != nil {
		return 0
	}
	return int(r)
}

// SupportedCPUID returns the CPUID leaves KVM can present to a guest.
func (s *System) SupportedCPUID() ([]CPUIDEntry, error) {
	for n := 128; n <= 4096; n *= 2 {
		buf := make([]byte, 8+n*cpuidEntrySize)
		putU32(buf[0:], uint32(n))
		_, err := ioctlPtr(s.fd, reqGetSupportedCPUID, unsafe.Pointer(&buf[0]))
		if err == unix.E2BIG {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("KVM_GET_SUPPORTED_CPUID: %w", err)
		}
		return decodeCPUID(buf), nil
	}
	return nil, fmt.Errorf("KVM_GET_SUPPORTED_CPUID: too many entries")
}

// CreateVM makes a new, empty virtual machine.
func (s *System) CreateVM() (*VM, error) {
	var fd uintptr
	var err error
	for {
		fd, err = ioctl(s.fd, reqCreateVM, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("KVM_CREATE_VM: %w", err)
	}
	unix.CloseOnExec(int(fd))
	return &VM{fd: int(fd), sys: s}, nil
}
