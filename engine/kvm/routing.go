package kvm

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// Interrupt controllers a GSI can be routed to.
const (
	IRQChipPICMaster = 0
	IRQChipPICSlave  = 1
	IRQChipIOAPIC    = 2
)

// IRQRoute sends one GSI to one pin of an in-kernel interrupt controller.
type IRQRoute struct {
	GSI  uint32
	Chip uint32
	Pin  uint32
}

const routingEntrySize = 48

// SetGSIRouting replaces the VM's whole GSI routing table with irqchip routes.
func (vm *VM) SetGSIRouting(routes []IRQRoute) error {
	buf := make([]byte, 8+len(routes)*routingEntrySize)
	binary.LittleEndian.PutUint32(buf, uint32(len(routes)))
	for i, r := range routes {
		e := buf[8+i*routingEntrySize:]
		binary.LittleEndian.PutUint32(e[0:], r.GSI)
		binary.LittleEndian.PutUint32(e[4:], 1) // KVM_IRQ_ROUTING_IRQCHIP
		binary.LittleEndian.PutUint32(e[16:], r.Chip)
		binary.LittleEndian.PutUint32(e[20:], r.Pin)
	}
	if _, err := ioctlPtr(vm.fd, reqSetGSIRouting, unsafe.Pointer(&buf[0])); err != nil {
		return fmt.Errorf("KVM_SET_GSI_ROUTING: %w", err)
	}
	return nil
}

// PCRouting is the routing of a PC with two cascaded 8259s and a 24-pin IOAPIC, where the PIT's IRQ 0 reaches
// IOAPIC pin 2 (the MADT says so with an interrupt source override) and GSI 2, the cascade, goes nowhere.
func PCRouting() []IRQRoute {
	var rs []IRQRoute
	for gsi := uint32(0); gsi < 16; gsi++ {
		if gsi == 2 {
			continue
		}
		if gsi < 8 {
			rs = append(rs, IRQRoute{GSI: gsi, Chip: IRQChipPICMaster, Pin: gsi})
		} else {
			rs = append(rs, IRQRoute{GSI: gsi, Chip: IRQChipPICSlave, Pin: gsi - 8})
		}
	}
	for gsi := uint32(0); gsi < 24; gsi++ {
		switch gsi {
		case 0:
			rs = append(rs, IRQRoute{GSI: 0, Chip: IRQChipIOAPIC, Pin: 2})
		case 2:
		default:
			rs = append(rs, IRQRoute{GSI: gsi, Chip: IRQChipIOAPIC, Pin: gsi})
		}
	}
	return rs
}
