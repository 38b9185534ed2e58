package machine

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"paddock/engine/kvm"
)

// vcpuThread runs one vCPU on a locked OS thread and can be kicked out of KVM_RUN from another goroutine.
type vcpuThread struct {
	cpu  *kvm.VCPU
	tid  atomic.Int32 // OS thread running the vCPU, 0 until it starts
	done chan struct{}
}

// kick forces the vCPU out of the guest: immediate_exit covers a vCPU about to enter, the signal one inside.
// SIGURG is the Go runtime's own preemption signal, so delivering it is harmless to the runtime.
func (t *vcpuThread) kick() {
	t.cpu.SetImmediateExit(true)
	if tid := t.tid.Load(); tid != 0 {
		_ = unix.Tgkill(os.Getpid(), int(tid), unix.SIGURG)
	}
}

// stop kicks until the vCPU goroutine has returned.
func (t *vcpuThread) stop() {
	for {
		t.kick()
		select {
		case <-t.done:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// run is the vCPU loop. It returns when the boot ends (stopping is set) or with the event the exit caused.
func (b *boot) runVCPU(t *vcpuThread) {
	defer close(t.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t.tid.Store(int32(unix.Gettid()))
	for {
		if b.stopping.Load() {
			return
		}
		b.holdIfPaused()
		if b.stopping.Load() {
			return
		}
		err := t.cpu.Run()
		if err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
				// A kick: for a stop (seen at the top of the loop), or a pause (its flag was set before the
				// kick, so the loop parks). Either way the kick is spent.
				if !b.stopping.Load() {
					t.cpu.SetImmediateExit(false)
				}
				continue
			}
			b.finish(eventFailure, fmt.Errorf("vCPU %d: KVM_RUN: %w", t.cpu.ID(), err))
			return
		}
		if ev, err := b.handleExit(t.cpu); ev != eventNone {
			b.finish(ev, err)
			return
		}
	}
}

// handleExit serves one exit. It returns eventNone to re-enter the guest.
func (b *boot) handleExit(cpu *kvm.VCPU) (event, error) {
	switch reason := cpu.ExitReason(); reason {
	case kvm.ExitIO:
		io, ok := cpu.IO()
		if !ok {
			return eventFailure, fmt.Errorf("vCPU %d: KVM reported an I/O exit with a bad data offset", cpu.ID())
		}
		b.portIO(io)
	case kvm.ExitMMIO:
		m := cpu.MMIO()
		if m.Write {
			if !b.mmio.Write(m.Addr, m.Data) {
				b.unclaimed("MMIO write", m.Addr)
			}
		} else if !b.mmio.Read(m.Addr, m.Data) {
			b.unclaimed("MMIO read", m.Addr)
		}
	case kvm.ExitIntr, kvm.ExitIRQWindowOpen, kvm.ExitHLT:
		// Nothing to do: with the in-kernel irqchip HLT is handled by KVM; re-enter.
	case kvm.ExitShutdown:
		// A triple fault: on a PC that resets the CPU.
		return eventReset, nil
	case kvm.ExitSystemEvent:
		switch cpu.SystemEvent() {
		case 1:
			return eventPowerOff, nil
		case 2:
			return eventReset, nil
		default:
			return eventFailure, fmt.Errorf("guest crashed (KVM system event %d)", cpu.SystemEvent())
		}
	case kvm.ExitInternalError:
		return eventFailure, b.internalError(cpu)
	case kvm.ExitFailEntry:
		return eventFailure, fmt.Errorf("vCPU %d: KVM could not enter the guest (hardware entry failure %#x)",
			cpu.ID(), cpu.FailEntryReason())
	default:
		rip := ""
		if r, err := cpu.Regs(); err == nil {
			rip = fmt.Sprintf(" at RIP %#x", r.RIP)
		}
		return eventFailure, fmt.Errorf("vCPU %d: unexpected KVM exit %s%s", cpu.ID(), kvm.ExitName(reason), rip)
	}
	return eventNone, nil
}

// portIO dispatches a port exit. String I/O (REP INS/OUTS) arrives as Count items of Size bytes.
func (b *boot) portIO(io kvm.IOExit) {
	for i := 0; i < io.Count; i++ {
		chunk := io.Data[i*io.Size : (i+1)*io.Size]
		if io.Out {
			if !b.pio.Write(uint64(io.Port), chunk) {
				b.unclaimed("port write", uint64(io.Port))
			}
		} else if !b.pio.Read(uint64(io.Port), chunk) {
			b.unclaimed("port read", uint64(io.Port))
		}
	}
}

// unclaimed logs an access nobody owns, once per address, at debug level: guests probe for hardware that a
// PC may or may not have, and that is normal.
func (b *boot) unclaimed(kind string, addr uint64) {
	key := fmt.Sprintf("%s %#x", kind, addr)
	if _, seen := b.seenUnclaimed.LoadOrStore(key, true); !seen {
		b.log.Debug("access to an address no device claims", "access", kind, "addr", fmt.Sprintf("%#x", addr))
	}
}

// internalError turns KVM_EXIT_INTERNAL_ERROR into one line: what failed, where, and on which bytes.
func (b *boot) internalError(cpu *kvm.VCPU) error {
	ie := cpu.InternalError()
	what := map[uint32]string{
		kvm.InternalErrorEmulation:      "emulation failure",
		kvm.InternalErrorSimulEx:        "simultaneous exceptions",
		kvm.InternalErrorDeliveryEv:     "event delivery failure",
		kvm.InternalErrorUnexpectedExit: "unexpected exit",
	}[ie.Suberror]
	if what == "" {
		what = "unknown"
	}
	msg := fmt.Sprintf("vCPU %d: KVM internal error: %s (suberror %d)", cpu.ID(), what, ie.Suberror)
	regs, err := cpu.Regs()
	if err != nil {
		return errors.New(msg)
	}
	msg += fmt.Sprintf(" at RIP %#x", regs.RIP)
	insn := ie.Insn
	if len(insn) == 0 {
		insn = b.instructionBytes(cpu, regs.RIP)
	}
	if len(insn) > 0 {
		hex := make([]string, len(insn))
		for i, c := range insn {
			hex[i] = fmt.Sprintf("%02x", c)
		}
		msg += ", instruction bytes " + strings.Join(hex, " ")
	} else {
		msg += ", instruction bytes unavailable (RIP not in guest RAM)"
	}
	return errors.New(msg)
}

// instructionBytes reads up to 15 bytes at a guest-virtual RIP through the vCPU's page tables.
func (b *boot) instructionBytes(cpu *kvm.VCPU, rip uint64) []byte {
	gpa, ok, err := cpu.Translate(rip)
	if err != nil || !ok {
		return nil
	}
	for n := uint64(15); n > 0; n-- {
		if s, err := b.mem.Slice(gpa, n); err == nil {
			return append([]byte(nil), s...)
		}
	}
	return nil
}
