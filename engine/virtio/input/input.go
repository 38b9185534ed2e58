// Package input is the virtio input device (virtio 1.2, 5.8): a tablet (absolute pointer with buttons and wheels)
// and a keyboard, both speaking Linux evdev events to the guest's virtio_input driver.
//
// The host side queues whole event groups, each ended by EV_SYN/SYN_REPORT, in a bounded queue; the device hands
// them out one event per buffer as the driver posts buffers on the event queue. A guest that stops reading cannot
// make the host grow memory: when the queue is full, a new position replaces a pending one, and otherwise the
// oldest groups are dropped; keys and buttons whose changes were dropped are restated in a later group, so none
// stays stuck in the guest.
package input

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"sync"

	"paddock/engine/virtio"
)

// Configuration selectors (virtio 1.2, 5.8.5).
const (
	CfgUnset    = 0x00
	CfgIDName   = 0x01
	CfgIDSerial = 0x02
	CfgIDDevIDs = 0x03
	CfgPropBits = 0x10
	CfgEvBits   = 0x11
	CfgAbsInfo  = 0x12
)

// Linux input event types and codes the devices use (include/uapi/linux/input-event-codes.h).
const (
	EvSyn = 0x00
	EvKey = 0x01
	EvRel = 0x02
	EvAbs = 0x03
	EvLed = 0x11
	EvRep = 0x14

	SynReport = 0

	BtnLeft   = 0x110
	BtnRight  = 0x111
	BtnMiddle = 0x112
	BtnSide   = 0x113
	BtnExtra  = 0x114

	RelHWheel = 0x06
	RelWheel  = 0x08

	AbsX = 0x00
	AbsY = 0x01

	LedNumLock    = 0x00
	LedCapsLock   = 0x01
	LedScrollLock = 0x02

	BusVirtual = 0x06
)

// AbsMax is the largest ABS_X/ABS_Y value the tablet reports (the smallest is 0).
const AbsMax = 32767

const (
	eventQueue  = 0
	statusQueue = 1
	queueSize   = 64
	// ConfigSize is the device configuration: select, subsel, size, five reserved bytes, a 128-byte payload.
	ConfigSize  = 8 + payloadSize
	payloadSize = 128
	// EventSize is the size of one virtio_input_event.
	EventSize = 8
	// MaxPending bounds the events held for a guest that does not read them.
	MaxPending = 512
	// maxIDString keeps names below the 64 bytes Linux reserves for them, leaving room for its terminator.
	maxIDString = 63
	pciVendor   = 0x1AF4
	staleCodes  = 0x180 // every key and pointer button code used here is below
)

// Event is one evdev event.
type Event struct {
	Type, Code uint16
	Value      int32
}

func synReport() Event { return Event{Type: EvSyn, Code: SynReport} }

// group is the events up to and including one SYN_REPORT; the guest applies them together.
type group struct {
	events []Event
	// motion marks a group holding only an absolute position, which a newer position may replace.
	motion bool
}

// Device is the virtio-input device common to Tablet and Keyboard: its configuration space, its event queue and
// its status queue. Host-side methods and the device's worker share mu.
type Device struct {
	mu      sync.Mutex
	entries map[uint16][]byte // (select<<8 | subsel) -> payload; fixed after construction
	sel     uint8
	subsel  uint8
	env     *virtio.Env
	pending []group
	queued  int // events in pending
	sent    int // events of pending[0] already given to the guest
	dropped uint64
	// stale marks EV_KEY codes whose latest change was dropped; the next group restates them so that no key or
	// button stays stuck in the guest.
	stale [staleCodes / 64]uint64
	chain virtio.Chain

	// activated runs (with mu held) when a driver starts; the device variant re-states what the guest must know.
	activated func()
	// status receives (with mu held) each event the driver sends on the status queue.
	status func(Event)
	// keyState reports (with mu held) whether key or button code is down, and whether the device has it.
	keyState func(code uint16) (down, ok bool)
}

var _ virtio.Device = (*Device)(nil)

type identity struct {
	name, serial string
	product      uint16
}

func newDevice(id identity) *Device {
	d := &Device{entries: map[uint16][]byte{}}
	d.set(CfgIDName, 0, []byte(truncate(id.name)))
	d.set(CfgIDSerial, 0, []byte(truncate(id.serial)))
	ids := make([]byte, 8)
	binary.LittleEndian.PutUint16(ids[0:], BusVirtual)
	binary.LittleEndian.PutUint16(ids[2:], pciVendor)
	binary.LittleEndian.PutUint16(ids[4:], id.product)
	binary.LittleEndian.PutUint16(ids[6:], 1)
	d.set(CfgIDDevIDs, 0, ids)
	return d
}

func truncate(s string) string {
	if len(s) > maxIDString {
		return s[:maxIDString]
	}
	return s
}

func (d *Device) set(sel, subsel uint8, payload []byte) {
	d.entries[uint16(sel)<<8|uint16(subsel)] = payload
}

// setBits advertises codes under select sel, subsel subsel as a bitmap just long enough to hold the highest one.
func (d *Device) setBits(sel, subsel uint8, codes []uint16) {
	var bitmap []byte
	for _, c := range codes {
		for int(c/8) >= len(bitmap) {
			bitmap = append(bitmap, 0)
		}
		bitmap[c/8] |= 1 << (c % 8)
	}
	d.set(sel, subsel, bitmap)
}

// setAbsInfo advertises the range of absolute axis code; fuzz, flat and resolution are zero.
func (d *Device) setAbsInfo(code uint8, min, max int32) {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], uint32(min))
	binary.LittleEndian.PutUint32(b[4:], uint32(max))
	d.set(CfgAbsInfo, code, b)
}

func (d *Device) Type() uint16         { return virtio.TypeInput }
func (d *Device) Features() uint64     { return 0 }
func (d *Device) QueueSizes() []uint16 { return []uint16{queueSize, queueSize} }
func (d *Device) ConfigSize() int      { return ConfigSize }

// ReadConfig renders the configuration for the current select and subsel: an unknown pair reads as size 0 and an
// all-zero payload.
func (d *Device) ReadConfig(offset uint32, data []byte) {
	if offset >= ConfigSize {
		return
	}
	var cfg [ConfigSize]byte
	d.mu.Lock()
	cfg[0], cfg[1] = d.sel, d.subsel
	payload := d.entries[uint16(d.sel)<<8|uint16(d.subsel)]
	d.mu.Unlock()
	cfg[2] = byte(len(payload))
	copy(cfg[8:], payload)
	copy(data, cfg[offset:])
}

// WriteConfig takes the driver's select and subsel; the rest of the structure is read-only.
func (d *Device) WriteConfig(offset uint32, data []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, b := range data {
		switch uint64(offset) + uint64(i) {
		case 0:
			d.sel = b
		case 1:
			d.subsel = b
		}
	}
}

// Activate starts event delivery; events from before the driver started were never queued.
func (d *Device) Activate(env *virtio.Env) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.env = env
	d.clearLocked()
	if d.activated != nil {
		d.activated()
	}
	return nil
}

// Reset forgets the driver, its selection and every pending event.
func (d *Device) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.env = nil
	d.sel, d.subsel = 0, 0
	d.clearLocked()
}

func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.env = nil
	d.clearLocked()
	return nil
}

func (d *Device) clearLocked() {
	d.pending, d.queued, d.sent = nil, 0, 0
	d.stale = [len(d.stale)]uint64{}
}

// restateLocked adds to g, before its SYN_REPORT, the current state of every key whose change was dropped, if the
// queue has room for them without dropping anything more.
func (d *Device) restateLocked(g group) group {
	n := 0
	for _, w := range d.stale {
		n += bits.OnesCount64(w)
	}
	if n == 0 || d.keyState == nil || d.queued+len(g.events)+n > MaxPending {
		return g
	}
	body := g.events[:len(g.events)-1]
	events := make([]Event, len(body), len(g.events)+n)
	copy(events, body)
	for w := range d.stale {
		for d.stale[w] != 0 {
			b := bits.TrailingZeros64(d.stale[w])
			d.stale[w] &^= 1 << b
			code := uint16(64*w + b)
			if slices.ContainsFunc(body, func(ev Event) bool { return ev.Type == EvKey && ev.Code == code }) {
				continue // the group states it already
			}
			if down, ok := d.keyState(code); ok {
				ev := Event{Type: EvKey, Code: code}
				if down {
					ev.Value = 1
				}
				events = append(events, ev)
			}
		}
	}
	if len(events) == len(body) {
		return g
	}
	return group{events: append(events, synReport())}
}

// Pending is how many events wait for guest buffers.
func (d *Device) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queued
}

// Dropped is how many event groups were dropped because the guest did not read them.
func (d *Device) Dropped() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped
}

// pushLocked queues one group (its last event is the SYN_REPORT) and wakes the worker. With no driver there is
// nobody to tell, and the group is dropped.
func (d *Device) pushLocked(g group) {
	if d.env == nil {
		return
	}
	g = d.restateLocked(g)
	if d.queued+len(g.events) > MaxPending {
		last := len(d.pending) - 1
		if g.motion && last >= 0 && d.pending[last].motion && !(last == 0 && d.sent > 0) {
			// Positions are absolute: the newest one makes a pending one redundant.
			d.queued += len(g.events) - len(d.pending[last].events)
			d.pending[last] = g
			return
		}
		if d.dropped == 0 {
			d.env.Log.Warn("virtio-input: the guest is not reading events; dropping the oldest")
		}
		for d.queued+len(g.events) > MaxPending {
			if !d.dropOldestLocked() {
				d.dropped++
				return
			}
		}
	}
	d.pending = append(d.pending, g)
	d.queued += len(g.events)
	d.env.Kick(eventQueue)
}

// dropOldestLocked drops the oldest group the guest has seen none of; a group already half delivered stays so
// that the guest's next SYN_REPORT closes it.
func (d *Device) dropOldestLocked() bool {
	i := 0
	if d.sent > 0 {
		i = 1
	}
	if i >= len(d.pending) {
		return false
	}
	for _, ev := range d.pending[i].events {
		if ev.Type == EvKey && ev.Code < staleCodes {
			d.stale[ev.Code/64] |= 1 << (ev.Code % 64)
		}
	}
	d.queued -= len(d.pending[i].events)
	d.pending = append(d.pending[:i], d.pending[i+1:]...)
	d.dropped++
	return true
}

// Process services the event queue (deliver what is pending) or the status queue (consume what the driver says).
func (d *Device) Process(queue int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.env == nil || queue < 0 || queue >= len(d.env.Queues) || d.env.Queues[queue] == nil {
		return
	}
	switch queue {
	case eventQueue:
		d.deliverLocked()
	case statusQueue:
		d.consumeStatusLocked()
	}
}

// deliverLocked writes one pending event into each buffer the driver posted, in order.
func (d *Device) deliverLocked() {
	env := d.env
	env.Serve(eventQueue, &d.chain, func() bool { return len(d.pending) > 0 }, func(c *virtio.Chain) (uint32, error) {
		if c.WritableLen < EventSize {
			return 0, fmt.Errorf("%w: event buffer with %d writable bytes, want %d", virtio.ErrBadQueue,
				c.WritableLen, EventSize)
		}
		g := &d.pending[0]
		var b [EventSize]byte
		encode(b[:], g.events[d.sent])
		c.CopyTo(b[:], 0)
		d.queued--
		if d.sent++; d.sent == len(g.events) {
			d.pending, d.sent = d.pending[1:], 0
		}
		return EventSize, nil
	})
	if len(d.pending) == 0 {
		d.pending = nil
	}
}

// consumeStatusLocked takes what the driver sends (LED states); each buffer is returned with nothing written.
func (d *Device) consumeStatusLocked() {
	env := d.env
	env.Serve(statusQueue, &d.chain, nil, func(c *virtio.Chain) (uint32, error) {
		var b [EventSize]byte
		if c.CopyFrom(b[:], 0) == EventSize {
			ev := decode(b[:])
			if d.status != nil {
				d.status(ev)
			} else {
				env.Log.Debug("virtio-input: status event ignored", "type", ev.Type, "code", ev.Code, "value", ev.Value)
			}
		}
		return 0, nil
	})
}

func encode(b []byte, ev Event) {
	binary.LittleEndian.PutUint16(b[0:], ev.Type)
	binary.LittleEndian.PutUint16(b[2:], ev.Code)
	binary.LittleEndian.PutUint32(b[4:], uint32(ev.Value))
}

func decode(b []byte) Event {
	return Event{Type: binary.LittleEndian.Uint16(b[0:]), Code: binary.LittleEndian.Uint16(b[2:]),
		Value: int32(binary.LittleEndian.Uint32(b[4:]))}
}

// DecodeEvent reads one virtio_input_event (8 bytes, little-endian).
func DecodeEvent(b [EventSize]byte) Event { return decode(b[:]) }

func clampInt32(v int) int32 {
	switch {
	case v > 1<<31-1:
		return 1<<31 - 1
	case v < -1<<31:
		return -1 << 31
	}
	return int32(v)
}
