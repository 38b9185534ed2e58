// Package console is the virtio console with multiport support. Port 0 is the guest's console (hvc0); further
// ports carry a name (for example "org.paddock.agent.0", which shows in the guest as /dev/virtio-ports/<name>)
// and a host-side byte stream. Everything the guest sends, control messages included, is treated as hostile.
package console

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"paddock/engine/virtio"
)

// Feature bits and control events (virtio 1.2, 5.3).
const (
	FeatureMultiport = 1 << 1

	EventDeviceReady  = 0
	EventDeviceAdd    = 1
	EventDeviceRemove = 2
	EventPortReady    = 3
	EventConsolePort  = 4
	EventResize       = 5
	EventPortOpen     = 6
	EventPortName     = 7
	EventPortRemove   = EventDeviceRemove // the virtio spec's name for event 2 sent about one port

	controlHeaderSize = 8
	queueSize         = 64
	configSize        = 12
	// bufferLimit bounds what is held for each direction of a port; beyond it the sender waits.
	bufferLimit = 256 << 10
	// maxPendingControl bounds control messages waiting for guest buffers.
	maxPendingControl = 256
	// MaxPortName is the longest accepted port name.
	MaxPortName = 127
	maxPorts    = 31 // 2 control queues plus two per port fit the transport's 64 queues
)

// ErrClosed is returned by a closed port.
var ErrClosed = errors.New("console port closed")

// Options configure a console device.
type Options struct {
	// Output receives what the guest writes to its console (port 0). It is called on the device's worker and
	// should not block for long. If nil, port 0's output is read through Console().Read instead.
	Output io.Writer
	// Ports names the further ports; they get IDs 1, 2, ... in this order.
	Ports []string
	// Unplugged names ports (of Ports) that start absent: their IDs and queues are reserved, and Plug adds them
	// while the guest runs (a hot-plug the guest's driver hears of as DEVICE_ADD).
	Unplugged []string
}

// Device is a virtio-console device.
type Device struct {
	mu        sync.Mutex
	output    io.Writer
	ports     []*Port
	config    [configSize]byte
	env       *virtio.Env
	multiport bool
	// driverReady: the guest's driver announced itself (DEVICE_READY) and hears of added and removed ports.
	driverReady bool
	ctrlOut     [][]byte // control messages for the guest, waiting for buffers
	chain       virtio.Chain
}

var _ virtio.Device = (*Device)(nil)

// New makes a console device.
func New(opts Options) (*Device, error) {
	if len(opts.Ports) > maxPorts {
		return nil, errors.New("console: too many ports")
	}
	d := &Device{output: opts.Output}
	seen := map[string]bool{}
	for i, name := range append([]string{""}, opts.Ports...) {
		if i > 0 && (name == "" || len(name) > MaxPortName || seen[name]) {
			return nil, errors.New("console: port names must be unique, non-empty and at most 127 bytes")
		}
		seen[name] = true
		d.ports = append(d.ports, d.newPort(uint32(i), name, true))
	}
	for _, name := range opts.Unplugged {
		p := d.Port(name)
		if p == nil {
			return nil, fmt.Errorf("console: unplugged port %q is not among the ports", name)
		}
		p.unplugged, p.closed = true, true
	}
	binary.LittleEndian.PutUint32(d.config[4:], uint32(len(d.ports)))
	return d, nil
}

func (d *Device) newPort(id uint32, name string, hostConnected bool) *Port {
	p := &Port{d: d, id: id, name: name, hostOpen: hostConnected}
	p.cond = sync.NewCond(&d.mu)
	p.changes = make(chan struct{}, 1)
	return p
}

// Console is port 0, the guest's hvc0. Writing to it types into the guest console.
func (d *Device) Console() *Port { return d.ports[0] }

// Port returns the named port, or nil if there is none or it is unplugged.
func (d *Device) Port(name string) *Port {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p := d.slotLocked(name); p != nil && !p.unplugged {
		return p
	}
	return nil
}

// slotLocked is the port, plugged or not, that holds name's ID.
func (d *Device) slotLocked(name string) *Port {
	for _, p := range d.ports[1:] {
		if p.name == name {
			return p
		}
	}
	return nil
}

// Plug adds the named port (one of Options.Ports, unplugged) and returns its fresh host end. A running guest
// driver hears of it at once; one that starts later finds it at its handshake. hostConnected says whether the
// host end counts as open from the start (see Port.SetHostConnected).
func (d *Device) Plug(name string, hostConnected bool) (*Port, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.slotLocked(name)
	switch {
	case old == nil:
		return nil, fmt.Errorf("console: no port %q", name)
	case !old.unplugged:
		return nil, fmt.Errorf("console: port %q is already plugged", name)
	}
	p := d.newPort(old.id, name, hostConnected)
	d.ports[p.id] = p
	if d.driverReady {
		d.sendControlLocked(p.id, EventDeviceAdd, 1, "")
		d.env.Kick(2)
	}
	return p, nil
}

// Unplug removes the named port: the guest's driver is told (PORT_REMOVE), the host end is closed (its readers
// get io.EOF, its writers ErrClosed) and whatever either side had buffered is dropped. Unplugging an absent port
// does nothing.
func (d *Device) Unplug(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.slotLocked(name)
	if p == nil {
		return fmt.Errorf("console: no port %q", name)
	}
	if p.unplugged {
		return nil
	}
	if d.driverReady {
		d.sendControlLocked(p.id, EventPortRemove, 1, "")
		d.env.Kick(2)
	}
	p.unplugged, p.closed = true, true
	p.toGuest, p.fromGuest = nil, nil
	p.ready = false
	p.setGuestOpenLocked(false)
	p.cond.Broadcast()
	return nil
}

func (d *Device) Type() uint16     { return virtio.TypeConsole }
func (d *Device) Features() uint64 { return FeatureMultiport }
func (d *Device) ConfigSize() int  { return configSize }

// QueueSizes: port 0 receive/transmit, control receive/transmit, then a pair per further port.
func (d *Device) QueueSizes() []uint16 {
	s := make([]uint16, 2+2*len(d.ports))
	for i := range s {
		s[i] = queueSize
	}
	return s
}

func (d *Device) ReadConfig(offset uint32, data []byte) { copy(data, d.config[offset:]) }

// WriteConfig accepts nothing: emergency writes (EMERG_WRITE) are not offered.
func (d *Device) WriteConfig(uint32, []byte) {}

func (d *Device) Activate(env *virtio.Env) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.env = env
	d.multiport = env.Features&FeatureMultiport != 0
	if !d.multiport {
		d.ports[0].ready = true
		d.ports[0].setGuestOpenLocked(true) // a single-port driver uses hvc0 from the start
	}
	return nil
}

// Reset forgets the guest's side of every port; data buffered on the host side stays for the next driver.
func (d *Device) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.env = nil
	d.multiport = false
	d.driverReady = false
	d.ctrlOut = nil
	for _, p := range d.ports {
		p.setGuestOpenLocked(false)
		p.ready = false
	}
}

// Close closes every port.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.ports {
		p.closed = true
		p.cond.Broadcast()
	}
	return nil
}

func rxQueue(port int) int {
	if port == 0 {
		return 0
	}
	return 2 + 2*port
}

func (d *Device) Process(queue int) {
	switch {
	case queue == 0:
		d.deliver(0)
	case queue == 1:
		d.consume(0, 1)
	case queue == 2:
		d.mu.Lock()
		d.deliverControlLocked()
		d.mu.Unlock()
	case queue == 3:
		d.control()
	default:
		port := (queue - 2) / 2
		if port >= len(d.ports) {
			return
		}
		if queue%2 == 0 {
			d.deliver(port)
		} else {
			d.consume(port, queue)
		}
	}
}

// queueLocked is queue index if the driver enabled it and it may be used.
func (d *Device) queueLocked(index int) *virtio.Queue {
	if d.env == nil || index >= len(d.env.Queues) || d.env.Failed() {
		return nil
	}
	if index >= 2 && !d.multiport {
		return nil
	}
	return d.env.Queues[index]
}

// deliver moves host data for port into the guest's receive buffers.
func (d *Device) deliver(port int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.ports[port]
	idx := rxQueue(port)
	q := d.queueLocked(idx)
	// The guest drops data for a port it has not opened, so it waits here instead; hvc0 is always open.
	if q == nil || (port != 0 && (!p.guestOpen || p.unplugged)) {
		return
	}
	pushed := d.env.Serve(idx, &d.chain, func() bool { return len(p.toGuest) > 0 }, func(c *virtio.Chain) (uint32, error) {
		n := c.CopyTo(p.toGuest, 0)
		p.toGuest = p.toGuest[n:]
		return uint32(n), nil
	})
	if len(p.toGuest) == 0 {
		p.toGuest = nil
	}
	if pushed {
		p.cond.Broadcast()
	}
}

// consume takes what the guest wrote on port's transmit queue.
func (d *Device) consume(port, idx int) {
	d.mu.Lock()
	p := d.ports[port]
	q := d.queueLocked(idx)
	if q == nil {
		d.mu.Unlock()
		return
	}
	env := d.env
	toWriter := port == 0 && d.output != nil
	var out []byte
	pushed := false
	discard := p.closed || !p.hostOpen // nobody on the host reads it: drop, rather than stall the guest
	for toWriter || discard || len(p.fromGuest) < bufferLimit {
		ok, err := q.Next(&d.chain)
		if err != nil {
			env.Fail(err)
			break
		}
		if !ok {
			break
		}
		n := min(d.chain.ReadableLen, bufferLimit)
		data := make([]byte, n)
		d.chain.CopyFrom(data, 0)
		switch {
		case toWriter:
			out = append(out, data...)
		case !discard:
			p.fromGuest = append(p.fromGuest, data...)
		}
		q.Push(d.chain.Head, 0)
		pushed = true
	}
	if pushed {
		p.cond.Broadcast()
		env.Interrupt(idx)
	}
	d.mu.Unlock()
	if len(out) > 0 {
		// Outside the lock: a slow writer must not stall host-side callers.
		_, _ = d.output.Write(out)
	}
}

// control handles the guest's control messages.
func (d *Device) control() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.queueLocked(3) == nil {
		return
	}
	d.env.Serve(3, &d.chain, nil, func(c *virtio.Chain) (uint32, error) {
		var msg [controlHeaderSize]byte
		if c.CopyFrom(msg[:], 0) == controlHeaderSize {
			d.handleControlLocked(binary.LittleEndian.Uint32(msg[0:]), binary.LittleEndian.Uint16(msg[4:]),
				binary.LittleEndian.Uint16(msg[6:]))
		}
		return 0, nil
	})
	d.deliverControlLocked()
}

func (d *Device) handleControlLocked(id uint32, event, value uint16) {
	switch event {
	case EventDeviceReady:
		if value != 1 {
			d.env.Log.Warn("console: guest driver failed to start")
			return
		}
		d.driverReady = true
		for _, p := range d.ports {
			if !p.unplugged {
				d.sendControlLocked(p.id, EventDeviceAdd, 1, "")
			}
		}
		return
	}
	if id >= uint32(len(d.ports)) {
		d.env.Log.Debug("console: control message for an unknown port", "port", id, "event", event)
		return
	}
	p := d.ports[id]
	if p.unplugged {
		d.env.Log.Debug("console: control message for an unplugged port", "port", id, "event", event)
		return
	}
	switch event {
	case EventPortReady:
		if value != 1 || p.ready {
			return
		}
		p.ready = true
		if p.id == 0 {
			d.sendControlLocked(0, EventConsolePort, 1, "")
		} else {
			d.sendControlLocked(p.id, EventPortName, 1, p.name)
		}
		if !p.closed && p.hostOpen {
			d.sendControlLocked(p.id, EventPortOpen, 1, "")
		}
	case EventPortOpen:
		if !p.ready {
			return
		}
		if p.id != 0 && p.guestOpen && value != 1 {
			p.guestEOF = true // the host's reader hears the guest program hang up
		}
		p.setGuestOpenLocked(value == 1)
		if p.guestOpen && len(p.toGuest) > 0 {
			d.env.Kick(rxQueue(int(p.id)))
		}
	default:
		d.env.Log.Debug("console: unexpected control event from the guest", "event", event)
	}
}

func (d *Device) sendControlLocked(id uint32, event, value uint16, name string) {
	if len(d.ctrlOut) >= maxPendingControl {
		d.env.Log.Warn("console: control messages are not being read; dropping one", "event", event)
		return
	}
	msg := make([]byte, controlHeaderSize+len(name))
	binary.LittleEndian.PutUint32(msg[0:], id)
	binary.LittleEndian.PutUint16(msg[4:], event)
	binary.LittleEndian.PutUint16(msg[6:], value)
	copy(msg[controlHeaderSize:], name)
	d.ctrlOut = append(d.ctrlOut, msg)
}

func (d *Device) deliverControlLocked() {
	q := d.queueLocked(2)
	if q == nil {
		return
	}
	d.env.Serve(2, &d.chain, func() bool { return len(d.ctrlOut) > 0 }, func(c *virtio.Chain) (uint32, error) {
		n := c.CopyTo(d.ctrlOut[0], 0)
		d.ctrlOut = d.ctrlOut[1:]
		return uint32(n), nil
	})
}

// Port is the host's end of one console port. It is safe for concurrent use.
type Port struct {
	d         *Device
	id        uint32
	name      string
	cond      *sync.Cond // on d.mu: data moved, state changed
	changes   chan struct{}
	toGuest   []byte
	fromGuest []byte
	ready     bool // the guest driver set the port up
	guestOpen bool // a guest program has the port open
	// guestEOF: the guest program closed the port; the next Read that finds nothing buffered returns io.EOF.
	guestEOF  bool
	hostOpen  bool // the guest is told the host end is open (SetHostConnected)
	unplugged bool // removed from the guest (Device.Unplug); closed too
	closed    bool
}

// Name is the port's name ("" for the console).
func (p *Port) Name() string { return p.name }

// ID is the port number the guest sees.
func (p *Port) ID() uint32 { return p.id }

// GuestConnected reports whether a guest program has the port open (always true for the console once the guest
// driver set it up).
func (p *Port) GuestConnected() bool {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	return p.guestOpen
}

// Changes delivers a value (coalesced) whenever GuestConnected may have changed.
func (p *Port) Changes() <-chan struct{} { return p.changes }

// WaitGuestConnected blocks until a guest program opens the port, the port is closed or ctx ends.
func (p *Port) WaitGuestConnected(ctx context.Context) error {
	for {
		p.d.mu.Lock()
		open, closed := p.guestOpen, p.closed
		p.d.mu.Unlock()
		switch {
		case closed:
			return ErrClosed
		case open:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.changes:
		}
	}
}

func (p *Port) setGuestOpenLocked(open bool) {
	if p.guestOpen == open {
		return
	}
	p.guestOpen = open
	p.cond.Broadcast()
	select {
	case p.changes <- struct{}{}:
	default:
	}
}

// Read returns what the guest wrote, waiting until there is some. It returns io.EOF once each time the guest
// program closes the port (after what it wrote before), and always after Close or while the host end is
// disconnected.
func (p *Port) Read(b []byte) (int, error) {
	d := p.d
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(p.fromGuest) == 0 && !p.closed && p.hostOpen && !p.guestEOF {
		p.cond.Wait()
	}
	if len(p.fromGuest) == 0 {
		p.guestEOF = false
		return 0, io.EOF
	}
	wasFull := len(p.fromGuest) >= bufferLimit
	n := copy(b, p.fromGuest)
	p.fromGuest = p.fromGuest[n:]
	if len(p.fromGuest) == 0 {
		p.fromGuest = nil
	}
	if wasFull && d.env != nil {
		d.env.Kick(rxQueue(int(p.id)) + 1) // the transmit queue was left waiting for room
	}
	return n, nil
}

// Write queues b for the guest, waiting while more than a bounded amount is already waiting.
func (p *Port) Write(b []byte) (int, error) {
	d := p.d
	d.mu.Lock()
	defer d.mu.Unlock()
	written := 0
	for len(b) > 0 {
		for len(p.toGuest) >= bufferLimit && !p.closed && p.hostOpen {
			p.cond.Wait()
		}
		if p.closed || !p.hostOpen {
			return written, ErrClosed
		}
		n := min(len(b), bufferLimit-len(p.toGuest))
		p.toGuest = append(p.toGuest, b[:n]...)
		b = b[n:]
		written += n
		if d.env != nil {
			d.env.Kick(rxQueue(int(p.id)))
		}
	}
	return written, nil
}

// Close ends the host side: the guest sees the port closed, and blocked readers and writers return.
func (p *Port) Close() error {
	d := p.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.cond.Broadcast()
	if d.env != nil && p.ready && d.multiport && p.hostOpen {
		d.sendControlLocked(p.id, EventPortOpen, 0, "")
		d.env.Kick(2)
	}
	select {
	case p.changes <- struct{}{}:
	default:
	}
	return nil
}

// SetHostConnected tells the guest whether a host program is at this end (PORT_OPEN). While disconnected the
// guest's reads of the port end and its writes wait, what the guest writes is dropped, Read returns io.EOF and
// Write ErrClosed; disconnecting drops what either side had buffered, so the next host program starts afresh.
func (p *Port) SetHostConnected(open bool) error {
	d := p.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.hostOpen == open {
		return nil
	}
	p.hostOpen = open
	p.guestEOF = false
	wasFull := len(p.fromGuest) >= bufferLimit
	if !open {
		p.toGuest, p.fromGuest = nil, nil
	}
	p.cond.Broadcast()
	if d.env == nil {
		return nil
	}
	if p.ready && d.multiport {
		var v uint16
		if open {
			v = 1
		}
		d.sendControlLocked(p.id, EventPortOpen, v, "")
		d.env.Kick(2)
	}
	if wasFull || !open {
		d.env.Kick(rxQueue(int(p.id)) + 1) // a transmit queue left waiting for room is drained
	}
	return nil
}

// HostConnected reports what SetHostConnected last set.
func (p *Port) HostConnected() bool {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	return p.hostOpen && !p.closed
}
