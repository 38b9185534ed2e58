package kvm

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Exit reasons (kvm_run.exit_reason).
const (
	ExitUnknown       = 0
	ExitException     = 1
	ExitIO            = 2
	ExitHypercall     = 3
	ExitDebug         = 4
	ExitHLT           = 5
	ExitMMIO          = 6
	ExitIRQWindowOpen = 7
	ExitShutdown      = 8
	ExitFailEntry     = 9
	ExitIntr          = 10
	ExitSetTPR        = 11
	ExitTPRAccess     = 12
	ExitNMI           = 16
	ExitInternalError = 17
	ExitSystemEvent   = 24
	ExitX86RDMSR      = 29
	ExitX86WRMSR      = 30
)

// ExitName gives a readable name for an exit reason.
func ExitName(reason uint32) string {
	names := map[uint32]string{
		ExitUnknown: "UNKNOWN", ExitException: "EXCEPTION", ExitIO: "IO", ExitHypercall: "HYPERCALL",
		ExitDebug: "DEBUG", ExitHLT: "HLT", ExitMMIO: "MMIO", ExitIRQWindowOpen: "IRQ_WINDOW_OPEN",
		ExitShutdown: "SHUTDOWN", ExitFailEntry: "FAIL_ENTRY", ExitIntr: "INTR", ExitSetTPR: "SET_TPR",
		ExitTPRAccess: "TPR_ACCESS", ExitNMI: "NMI", ExitInternalError: "INTERNAL_ERROR",
		ExitSystemEvent: "SYSTEM_EVENT", ExitX86RDMSR: "X86_RDMSR", ExitX86WRMSR: "X86_WRMSR",
	}
	if n, ok := names[reason]; ok {
		return n
	}
	return fmt.Sprintf("exit %d", reason)
}

// Internal-error sub-reasons.
const (
	InternalErrorEmulation      = 1
	InternalErrorSimulEx        = 2
	InternalErrorDeliveryEv     = 3
	InternalErrorUnexpectedExit = 4
)

// Offsets into struct kvm_run.
const (
	runImmediateExit = 1
	runExitReason    = 8
	runExitData      = 32
)

// VCPU is one virtual CPU. Run must be called from a goroutine locked to its OS thread.
type VCPU struct {
	fd  int
	id  int
	run []byte
}

// ID is the vCPU index (and its APIC ID).
func (c *VCPU) ID() int { return c.id }

// Close unmaps the run area and closes the vCPU.
func (c *VCPU) Close() error {
	unix.Munmap(c.run)
	return unix.Close(c.fd)
}

// Run enters the guest until the next exit. EINTR (a signal, such as the Go runtime's preemption) is returned
// as is: the caller decides whether to re-enter.
func (c *VCPU) Run() error {
	_, err := ioctl(c.fd, reqRun, 0)
	return err
}

// SetImmediateExit makes the next (or current, once kicked by a signal) KVM_RUN return EINTR at once.
func (c *VCPU) SetImmediateExit(on bool) {
	var v uint32
	if on {
		v = 1
	}
	// immediate_exit is a byte at offset 1; update the aligned word around it atomically.
	p := (*uint32)(unsafe.Pointer(&c.run[0]))
	for {
		old := atomic.LoadUint32(p)
		nw := old&^0xff00 | v<<8
		if atomic.CompareAndSwapUint32(p, old, nw) {
			return
		}
	}
}

// ExitReason is the reason of the last exit.
func (c *VCPU) ExitReason() uint32 { return binary.LittleEndian.Uint32(c.run[runExitReason:]) }

// IOExit describes a port I/O exit. Data is the kernel's buffer: fill it for IN, read it for OUT.
type IOExit struct {
	Out   bool
	Size  int
	Port  uint16
	Count int
	Data  []byte
}

// IO decodes a KVM_EXIT_IO. It returns ok=false if the kernel's data offset is out of the run area.
func (c *VCPU) IO() (IOExit, bool) {
	d := c.run[runExitData:]
	e := IOExit{
		Out:   d[0] == 1,
		Size:  int(d[1]),
		Port:  binary.LittleEndian.Uint16(d[2:]),
		Count: int(binary.LittleEndian.Uint32(d[4:])),
	}
	off := binary.LittleEndian.Uint64(d[8:])
	n := uint64(e.Size) * uint64(e.Count)
	if off > uint64(len(c.run)) || n > uint64(len(c.run))-off {
		return e, false
	}
	e.Data = c.run[off : off+n]
	return e, true
}

// MMIOExit describes an MMIO exit. Data is the kernel's buffer: fill it for reads.
type MMIOExit struct {
	Addr  uint64
	Write bool
	Data  []byte
}

// MMIO decodes a KVM_EXIT_MMIO.
func (c *VCPU) MMIO() MMIOExit {
	d := c.run[runExitData:]
	n := binary.LittleEndian.Uint32(d[16:])
	if n > 8 {
		n = 8
	}
	return MMIOExit{Addr: binary.LittleEndian.Uint64(d[0:]), Data: d[8 : 8+n], Write: d[20] != 0}
}

// InternalError describes a KVM_EXIT_INTERNAL_ERROR.
type InternalError struct {
	Suberror uint32
	Data     []uint64
	// Insn holds the bytes of the instruction KVM failed to emulate, when the kernel reports them.
	Insn []byte
}

// InternalError decodes a KVM_EXIT_INTERNAL_ERROR.
func (c *VCPU) InternalError() InternalError {
	d := c.run[runExitData:]
	e := InternalError{Suberror: binary.LittleEndian.Uint32(d[0:])}
	n := binary.LittleEndian.Uint32(d[4:])
	if n > 16 {
		n = 16
	}
	for i := uint32(0); i < n; i++ {
		e.Data = append(e.Data, binary.LittleEndian.Uint64(d[8+8*i:]))
	}
	// With KVM_CAP_EXIT_ON_EMULATION_FAILURE the emulation-failure layout is flags, then insn_size and bytes.
	const flagInsnBytes = 1
	if e.Suberror == InternalErrorEmulation && n >= 3 && binary.LittleEndian.Uint64(d[8:])&flagInsnBytes != 0 {
		size := int(d[16])
		if size > 15 {
			size = 15
		}
		e.Insn = append([]byte(nil), d[17:17+size]...)
	}
	return e
}

// SystemEvent decodes a KVM_EXIT_SYSTEM_EVENT: 1 shutdown, 2 reset, 3 crash.
func (c *VCPU) SystemEvent() uint32 { return binary.LittleEndian.Uint32(c.run[runExitData:]) }

// FailEntryReason decodes a KVM_EXIT_FAIL_ENTRY.
func (c *VCPU) FailEntryReason() uint64 { return binary.LittleEndian.Uint64(c.run[runExitData:]) }

// Regs mirrors struct kvm_regs.
type Regs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFLAGS                            uint64
}

// Segment mirrors struct kvm_segment.
type Segment struct {
	Base                           uint64
	Limit                          uint32
	Selector                       uint16
	Type                           uint8
	Present, DPL, DB, S, L, G, AVL uint8
	Unusable                       uint8
	_                              uint8
}

// DTable mirrors struct kvm_dtable.
type DTable struct {
	Base  uint64
	Limit uint16
	_     [3]uint16
}

// Sregs mirrors struct kvm_sregs.
type Sregs struct {
	CS, DS, ES, FS, GS, SS  Segment
	TR, LDT                 Segment
	GDT, IDT                DTable
	CR0, CR2, CR3, CR4, CR8 uint64
	EFER                    uint64
	APICBase                uint64
	InterruptBitmap         [4]uint64
}

// Regs reads the general registers.
func (c *VCPU) Regs() (Regs, error) {
	var r Regs
	if _, err := ioctlPtr(c.fd, reqGetRegs, unsafe.Pointer(&r)); err != nil {
		return r, fmt.Errorf("KVM_GET_REGS: %w", err)
	}
	return r, nil
}

// SetRegs writes the general registers.
func (c *VCPU) SetRegs(r Regs) error {
	if _, err := ioctlPtr(c.fd, reqSetRegs, unsafe.Pointer(&r)); err != nil {
		return fmt.Errorf("KVM_SET_REGS: %w", err)
	}
	return nil
}

// Sregs reads the special registers.
func (c *VCPU) Sregs() (Sregs, error) {
	var s Sregs
	if _, err := ioctlPtr(c.fd, reqGetSregs, unsafe.Pointer(&s)); err != nil {
		return s, fmt.Errorf("KVM_GET_SREGS: %w", err)
	}
	return s, nil
}

// SetSregs writes the special registers.
func (c *VCPU) SetSregs(s Sregs) error {
	if _, err := ioctlPtr(c.fd, reqSetSregs, unsafe.Pointer(&s)); err != nil {
		return fmt.Errorf("KVM_SET_SREGS: %w", err)
	}
	return nil
}

// FPU mirrors struct kvm_fpu.
type FPU struct {
	FPR        [8][16]byte
	FCW        uint16
	FSW        uint16
	FTWX       uint8
	_          uint8
	LastOpcode uint16
	LastIP     uint64
	LastDP     uint64
	XMM        [16][16]byte
	MXCSR      uint32
	_          uint32
}

// SetFPU writes the x87/SSE state.
func (c *VCPU) SetFPU(f FPU) error {
	if _, err := ioctlPtr(c.fd, reqSetFPU, unsafe.Pointer(&f)); err != nil {
		return fmt.Errorf("KVM_SET_FPU: %w", err)
	}
	return nil
}

// MSR is one model-specific register value.
type MSR struct {
	Index uint32
	Data  uint64
}

// SetMSRs writes MSRs; it fails unless the kernel accepted every one.
func (c *VCPU) SetMSRs(msrs []MSR) error {
	buf := make([]byte, 8+16*len(msrs))
	putU32(buf, uint32(len(msrs)))
	for i, m := range msrs {
		o := 8 + 16*i
		putU32(buf[o:], m.Index)
		binary.LittleEndian.PutUint64(buf[o+8:], m.Data)
	}
	n, err := ioctlPtr(c.fd, reqSetMSRs, unsafe.Pointer(&buf[0]))
	if err != nil {
		return fmt.Errorf("KVM_SET_MSRS: %w", err)
	}
	if int(n) != len(msrs) {
		return fmt.Errorf("KVM_SET_MSRS: kernel refused MSR %#x", msrs[n].Index)
	}
	return nil
}

// SetCPUID sets the CPUID leaves this vCPU shows the guest.
func (c *VCPU) SetCPUID(entries []CPUIDEntry) error {
	buf := encodeCPUID(entries)
	if _, err := ioctlPtr(c.fd, reqSetCPUID2, unsafe.Pointer(&buf[0])); err != nil {
		return fmt.Errorf("KVM_SET_CPUID2: %w", err)
	}
	return nil
}

// LAPIC is the raw 1 KiB local APIC register page.
type LAPIC [1024]byte

// LAPIC reads the local APIC state.
func (c *VCPU) LAPIC() (LAPIC, error) {
	var l LAPIC
	if _, err := ioctlPtr(c.fd, reqGetLAPIC, unsafe.Pointer(&l[0])); err != nil {
		return l, fmt.Errorf("KVM_GET_LAPIC: %w", err)
	}
	return l, nil
}

// SetLAPIC writes the local APIC state.
func (c *VCPU) SetLAPIC(l LAPIC) error {
	if _, err := ioctlPtr(c.fd, reqSetLAPIC, unsafe.Pointer(&l[0])); err != nil {
		return fmt.Errorf("KVM_SET_LAPIC: %w", err)
	}
	return nil
}

// MP states.
const (
	MPStateRunnable      = 0
	MPStateUninitialized = 1
	MPStateHalted        = 3
)

// MPState reads the multiprocessing state.
func (c *VCPU) MPState() (uint32, error) {
	var s uint32
	if _, err := ioctlPtr(c.fd, reqGetMPState, unsafe.Pointer(&s)); err != nil {
		return 0, fmt.Errorf("KVM_GET_MP_STATE: %w", err)
	}
	return s, nil
}

// SetMPState writes the multiprocessing state.
func (c *VCPU) SetMPState(s uint32) error {
	if _, err := ioctlPtr(c.fd, reqSetMPState, unsafe.Pointer(&s)); err != nil {
		return fmt.Errorf("KVM_SET_MP_STATE: %w", err)
	}
	return nil
}

// Translate maps a guest-virtual address to guest-physical through the vCPU's current page tables.
func (c *VCPU) Translate(gva uint64) (gpa uint64, valid bool, err error) {
	var t struct {
		LinearAddress   uint64
		PhysicalAddress uint64
		Valid           uint8
		Writeable       uint8
		Usermode        uint8
		_               [5]uint8
	}
	t.LinearAddress = gva
	if _, err := ioctlPtr(c.fd, reqTranslate, unsafe.Pointer(&t)); err != nil {
		return 0, false, fmt.Errorf("KVM_TRANSLATE %#x: %w", gva, err)
	}
	return t.PhysicalAddress, t.Valid != 0, nil
}
