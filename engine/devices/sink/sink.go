// Package sink provides a device for ports a guest writes to without expecting anything back: the POST code
// port 0x80 (Linux's I/O delay), its alternative 0xED, and firmware debug ports. Claiming them keeps the VMM
// from logging each access as unclaimed.
package sink

import "sync/atomic"

// Sink discards writes and reads as a fixed byte. It remembers the last byte written, which for port 0x80 is
// the firmware's last POST code. Safe for concurrent use.
type Sink struct {
	fill byte
	last atomic.Uint32 // bit 8 set once anything was written
}

// New returns a sink whose reads return fill (0xff is what an empty ISA bus reads).
func New(fill byte) *Sink { return &Sink{fill: fill} }

// Read implements bus.Device.
func (s *Sink) Read(_ uint64, data []byte) {
	for i := range data {
		data[i] = s.fill
	}
}

// Write implements bus.Device.
func (s *Sink) Write(_ uint64, data []byte) {
	if len(data) > 0 {
		s.last.Store(1<<8 | uint32(data[0]))
	}
}

// Last returns the last byte written, and whether anything was.
func (s *Sink) Last() (byte, bool) {
	v := s.last.Load()
	return byte(v), v&(1<<8) != 0
}
