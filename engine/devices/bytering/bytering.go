// Package bytering is the bounded byte FIFO the character devices (UART, PS/2) queue their bytes in.
package bytering

// Ring is a bounded FIFO of bytes. The zero value holds nothing; make one with New. Not safe for concurrent use:
// its device's lock guards it.
type Ring struct {
	buf        []byte
	head, size int
}

// New makes a ring holding up to capacity bytes.
func New(capacity int) Ring { return Ring{buf: make([]byte, capacity)} }

// Len is how many bytes wait.
func (r *Ring) Len() int { return r.size }

// Free is how many more bytes fit.
func (r *Ring) Free() int { return len(r.buf) - r.size }

// Clear drops every waiting byte.
func (r *Ring) Clear() { r.head, r.size = 0, 0 }

// Push appends b, or reports false when the ring is full.
func (r *Ring) Push(b byte) bool {
	if r.size == len(r.buf) {
		return false
	}
	r.buf[(r.head+r.size)%len(r.buf)] = b
	r.size++
	return true
}

// Pop removes the oldest byte, or reports false when the ring is empty.
func (r *Ring) Pop() (byte, bool) {
	if r.size == 0 {
		return 0, false
	}
	b := r.buf[r.head]
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	return b, true
}

// Cap is how many bytes the ring holds when full; zero for the zero Ring.
func (r *Ring) Cap() int { return len(r.buf) }
