package kvm

import (
	"fmt"
	"unsafe"
)

// The guest's kvmclock, held still while a VM is paused so that the guest does not see the pause as time gone
// by (which a Linux guest takes for a stuck CPU).

var (
	reqSetClock     = iow(0x7b, 48)
	reqGetClock     = ior(0x7c, 48)
	reqKVMClockCtrl = io(0xad)
)

// clockData is struct kvm_clock_data.
type clockData struct {
	Clock    uint64
	Flags    uint32
	_        uint32
	Realtime uint64
	HostTSC  uint64
	_        [4]uint32
}

// Clock reads the VM's kvmclock, in nanoseconds.
func (vm *VM) Clock() (uint64, error) {
	var d clockData
	if _, err := ioctlPtr(vm.fd, reqGetClock, unsafe.Pointer(&d)); err != nil {
		return 0, fmt.Errorf("KVM_GET_CLOCK: %w", err)
	}
	return d.Clock, nil
}

// SetClock sets the VM's kvmclock, in nanoseconds.
func (vm *VM) SetClock(ns uint64) error {
	d := clockData{Clock: ns}
	if _, err := ioctlPtr(vm.fd, reqSetClock, unsafe.Pointer(&d)); err != nil {
		return fmt.Errorf("KVM_SET_CLOCK: %w", err)
	}
	return nil
}

// MarkPaused tells the guest, through its kvmclock page, that the host stopped this vCPU, so its watchdogs do not
// take the gap for a lockup. A guest that does not use kvmclock makes this fail with EINVAL, which is harmless.
func (c *VCPU) MarkPaused() error {
	if _, err := ioctl(c.fd, reqKVMClockCtrl, 0); err != nil {
		return fmt.Errorf("KVM_KVMCLOCK_CTRL: %w", err)
	}
	return nil
}
