package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"

	"paddock/engine/guestmem"
)

// ErrBadQueue wraps every way a driver can break the virtqueue rules; a device that meets one needs a reset.
var ErrBadQueue = errors.New("virtqueue violation")

func violation(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadQueue, fmt.Sprintf(format, args...))
}

// QueueConfig is what the driver programs for one queue.
type QueueConfig struct {
	Size   uint16
	Desc   uint64 // descriptor table
	Driver uint64 // available ring
	Device uint64 // used ring
}

// Queue is the device side of one split virtqueue. It is not safe for concurrent use: a device touches its queues
// only from its worker goroutine.
type Queue struct {
	mem      *guestmem.Memory
	size     uint16
	desc     []byte // size*16 bytes of guest RAM
	avail    []byte // flags, idx, ring[size], used_event
	used     []byte // flags, idx, ring[size], avail_event
	indirect bool
	eventIdx bool

	// budget bounds the chains one Process call may take, so that a driver whose buffers overwrite its own
	// avail index cannot keep the worker busy forever; the transport sets it and re-queues the rest.
	budget    int
	exhausted bool

	lastAvail     uint16 // next avail ring slot to consume
	usedIdx       uint16
	signalledUsed uint16 // usedIdx when the driver was last interrupted
}

// NewQueue checks the driver's settings and binds the queue's rings in guest RAM. features are the negotiated
// feature bits (for INDIRECT_DESC and EVENT_IDX).
func NewQueue(mem *guestmem.Memory, cfg QueueConfig, features uint64) (*Queue, error) {
	n := uint64(cfg.Size)
	if n == 0 || n > MaxQueueSize || bits.OnesCount64(n) != 1 {
		return nil, violation("queue size %d is not a power of two in 1..%d", n, MaxQueueSize)
	}
	if cfg.Desc%descTableAlign != 0 || cfg.Driver%availRingAlign != 0 || cfg.Device%usedRingAlign != 0 {
		return nil, violation("ring addresses %#x/%#x/%#x are misaligned", cfg.Desc, cfg.Driver, cfg.Device)
	}
	q := &Queue{mem: mem, size: cfg.Size,
		indirect: features&FeatureRingIndirectDesc != 0,
		eventIdx: features&FeatureRingEventIdx != 0}
	var err error
	if q.desc, err = mem.Slice(cfg.Desc, n*descSize); err != nil {
		return nil, violation("descriptor table: %v", err)
	}
	if q.avail, err = mem.Slice(cfg.Driver, ringHeaderSize+2*n+ringEventSize); err != nil {
		return nil, violation("available ring: %v", err)
	}
	if q.used, err = mem.Slice(cfg.Device, ringHeaderSize+usedElemSize*n+ringEventSize); err != nil {
		return nil, violation("used ring: %v", err)
	}
	q.refill()
	return q, nil
}

// refill grants the queue a fresh budget of one ring's worth of chains and reports whether the last one ran out.
func (q *Queue) refill() bool {
	ran := q.exhausted
	q.budget, q.exhausted = int(q.size), false
	return ran
}

// Size is the number of entries in the queue.
func (q *Queue) Size() uint16 { return q.size }

// Chain is one descriptor chain taken from the queue: device-readable buffers first, then device-writable ones.
// Buffers are slices of guest RAM, already bounds-checked.
type Chain struct {
	Head        uint16
	Readable    [][]byte
	Writable    [][]byte
	ReadableLen uint64
	WritableLen uint64
}

func (c *Chain) reset(head uint16) {
	c.Head = head
	c.Readable = c.Readable[:0]
	c.Writable = c.Writable[:0]
	c.ReadableLen, c.WritableLen = 0, 0
}

// Next takes the next available chain into c. It reports false when the driver has made nothing new available.
// An error means the driver broke the rules; the queue must not be used again until the device is reset.
func (q *Queue) Next(c *Chain) (bool, error) {
	avail := q.availIdx()
	if avail == q.lastAvail && q.eventIdx {
		// Ask to be notified of the next buffer, then look again so one added meanwhile is not missed.
		binary.LittleEndian.PutUint16(q.used[ringHeaderSize+usedElemSize*int(q.size):], q.lastAvail)
		avail = q.availIdx()
	}
	pending := avail - q.lastAvail
	if pending == 0 {
		return false, nil
	}
	if q.budget <= 0 {
		q.exhausted = true
		return false, nil
	}
	q.budget--
	if pending > q.size {
		return false, violation("available index moved %d entries in a queue of %d", pending, q.size)
	}
	slot := int(q.lastAvail % q.size)
	head := binary.LittleEndian.Uint16(q.avail[ringHeaderSize+2*slot:])
	q.lastAvail++
	if err := q.walk(head, c); err != nil {
		return false, err
	}
	return true, nil
}

// walk follows the chain at head, validating every descriptor before use.
func (q *Queue) walk(head uint16, c *Chain) error {
	c.reset(head)
	table, count := q.desc, uint32(q.size)
	idx := uint32(head)
	indirect := false
	for steps := uint32(0); ; steps++ {
		if steps >= count {
			return violation("chain at %d is longer than its table of %d (a loop)", head, count)
		}
		if idx >= count {
			return violation("descriptor index %d outside a table of %d", idx, count)
		}
		d := table[idx*descSize : idx*descSize+descSize]
		addr := binary.LittleEndian.Uint64(d[0:])
		length := binary.LittleEndian.Uint32(d[8:])
		flags := binary.LittleEndian.Uint16(d[12:])
		next := binary.LittleEndian.Uint16(d[14:])

		if flags&DescFlagIndirect != 0 {
			switch {
			case !q.indirect:
				return violation("indirect descriptor without INDIRECT_DESC")
			case indirect:
				return violation("indirect descriptor inside an indirect table")
			case flags&DescFlagNext != 0:
				return violation("indirect descriptor with NEXT set")
			case length == 0 || length%descSize != 0 || length/descSize > MaxIndirectDescs:
				return violation("indirect table of %d bytes", length)
			}
			t, err := q.mem.Slice(addr, uint64(length))
			if err != nil {
				return violation("indirect table: %v", err)
			}
			table, count, idx, indirect, steps = t, length/descSize, 0, true, ^uint32(0)
			continue
		}
		if length > 0 {
			buf, err := q.mem.Slice(addr, uint64(length))
			if err != nil {
				return violation("descriptor %d: %v", idx, err)
			}
			if flags&DescFlagWrite != 0 {
				c.Writable = append(c.Writable, buf)
				c.WritableLen += uint64(length)
			} else {
				if len(c.Writable) > 0 {
					return violation("device-readable descriptor after a writable one")
				}
				c.Readable = append(c.Readable, buf)
				c.ReadableLen += uint64(length)
			}
		}
		if flags&DescFlagNext == 0 {
			return nil
		}
		idx = uint32(next)
	}
}

// Push returns the chain with head to the driver, saying how many bytes the device wrote into it.
func (q *Queue) Push(head uint16, written uint32) {
	slot := int(q.usedIdx % q.size)
	e := q.used[ringHeaderSize+usedElemSize*slot:]
	binary.LittleEndian.PutUint32(e[0:], uint32(head))
	binary.LittleEndian.PutUint32(e[4:], written)
	q.usedIdx++
	q.storeUsedIdx(q.usedIdx)
}

// NeedsInterrupt reports whether the driver wants an interrupt for what was pushed since the last one.
func (q *Queue) NeedsInterrupt() bool {
	if q.eventIdx {
		usedEvent := load16(q.avail, ringHeaderSize+2*int(q.size))
		old, now := q.signalledUsed, q.usedIdx
		q.signalledUsed = now
		// The driver asked to hear once the used index passes usedEvent (virtio 1.2, 2.7.10).
		return now-usedEvent-1 < now-old
	}
	return load16(q.avail, 0)&AvailFlagNoIntr == 0
}

// load16 reads a driver-owned 16-bit field, atomically when its aligned word lies inside b.
func load16(b []byte, off int) uint16 {
	if p, shift, ok := word32(b, off); ok {
		return uint16(atomic.LoadUint32(p) >> shift)
	}
	return binary.LittleEndian.Uint16(b[off:])
}

// availIdx loads the driver's available index with an atomic load, so that ring entries read after it are the
// ones the driver published before moving it.
func (q *Queue) availIdx() uint16 { return load16(q.avail, 2) }

// storeUsedIdx publishes the used index after the used elements; the flags beside it are the device's own.
func (q *Queue) storeUsedIdx(idx uint16) {
	if p, _, ok := word32(q.used, 0); ok {
		atomic.StoreUint32(p, uint32(binary.LittleEndian.Uint16(q.used[0:]))|uint32(idx)<<16)
		return
	}
	binary.LittleEndian.PutUint16(q.used[2:], idx)
}

// word32 finds the naturally aligned 32-bit word of b that holds the 16-bit field at off, and the shift of the
// field inside it (little-endian).
func word32(b []byte, off int) (*uint32, uint, bool) {
	addr := uintptr(unsafe.Pointer(&b[off]))
	if addr%2 != 0 {
		return nil, 0, false
	}
	start := off - int(addr%4)
	if start < 0 || start+4 > len(b) {
		return nil, 0, false
	}
	return (*uint32)(unsafe.Pointer(&b[start])), uint(addr%4) * 8, true
}
