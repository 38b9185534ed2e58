// Package irq names the two ways a device interrupts the guest, so that devices need not know about KVM.
package irq

// Line is a legacy interrupt line wired to the in-kernel PIC and IOAPIC. Set drives its level; an edge-triggered
// device raises and then lowers it.
type Line interface {
	Set(high bool)
}

// LineFunc adapts a function to Line.
type LineFunc func(high bool)

// Set calls f.
func (f LineFunc) Set(high bool) { f(high) }

// Pulse raises and lowers an edge-triggered line.
func Pulse(l Line) {
	l.Set(true)
	l.Set(false)
}

// MSISender delivers message-signalled interrupts (the address/data pair a device read from its MSI-X table).
type MSISender interface {
	SignalMSI(address uint64, data uint32) error
}
