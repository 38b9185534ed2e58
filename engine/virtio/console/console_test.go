package console_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"paddock/engine/virtio"
	"paddock/engine/virtio/console"
	"paddock/engine/virtio/virtiotest"
)

const (
	wait      = 2 * time.Second
	agentName = "org.paddock.agent.0"
	// Queue indexes with one named port.
	rx0, tx0, ctrlRx, ctrlTx, rx1, tx1 = 0, 1, 2, 3, 4, 5
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type guest struct {
	t   *testing.T
	m   *virtiotest.Machine
	d   *virtiotest.Driver
	dev *console.Device
	// rx buffers posted per queue: head -> address
	posted map[int]map[uint16]uint64
}

type ctrlMsg struct {
	id           uint32
	event, value uint16
	name         string
}

func start(t *testing.T, out io.Writer, features uint64) *guest {
	t.Helper()
	dev, err := console.New(console.Options{Output: out, Ports: []string{agentName}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := virtiotest.NewMachine(4 << 20)
	if err != nil {
		t.Fatal(err)
	}
	fn, d, err := m.Attach(dev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fn.Close() })
	nq := 6
	if features&console.FeatureMultiport == 0 {
		nq = 2
	}
	if err := d.Setup(features, nq); err != nil {
		t.Fatal(err)
	}
	g := &guest{t: t, m: m, d: d, dev: dev, posted: map[int]map[uint16]uint64{}}
	for q := 0; q < nq; q += 2 { // every receive queue gets buffers, as Linux fills them at probe
		g.post(q, 4)
	}
	return g
}

// post gives the device n 256-byte receive buffers on queue q.
func (g *guest) post(q, n int) {
	g.t.Helper()
	if g.posted[q] == nil {
		g.posted[q] = map[uint16]uint64{}
	}
	for i := 0; i < n; i++ {
		addr, err := g.m.Alloc(256, 16)
		if err != nil {
			g.t.Fatal(err)
		}
		head, err := g.d.Queues[q].Add([]virtiotest.Buf{{Addr: addr, Len: 256, Write: true}})
		if err != nil {
			g.t.Fatal(err)
		}
		g.posted[q][head] = addr
	}
	g.d.Queues[q].Kick()
}

// receive collects at least n buffers the device filled on receive queue q (reposting them).
func (g *guest) receive(q, n int) [][]byte {
	g.t.Helper()
	used, err := g.d.Queues[q].Wait(n, wait)
	if err != nil {
		g.t.Fatal(err)
	}
	var out [][]byte
	for _, u := range used {
		addr := g.posted[q][u.Head]
		out = append(out, append([]byte(nil), g.m.RAM[addr:addr+uint64(u.Len)]...))
		delete(g.posted[q], u.Head)
	}
	g.post(q, len(used))
	return out
}

// send transmits data on queue q and waits for the device to consume it.
func (g *guest) send(q int, data []byte) {
	g.t.Helper()
	addr, err := g.m.Alloc(uint64(len(data)), 16)
	if err != nil {
		g.t.Fatal(err)
	}
	copy(g.m.RAM[addr:], data)
	if _, err := g.d.Queues[q].Submit([]virtiotest.Buf{{Addr: addr, Len: uint32(len(data))}}, wait); err != nil {
		g.t.Fatal(err)
	}
}

func (g *guest) sendControl(id uint32, event, value uint16) {
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], id)
	binary.LittleEndian.PutUint16(b[4:], event)
	binary.LittleEndian.PutUint16(b[6:], value)
	g.send(ctrlTx, b[:])
}

func (g *guest) control(n int) []ctrlMsg {
	var out []ctrlMsg
	for _, b := range g.receive(ctrlRx, n) {
		if len(b) < 8 {
			g.t.Fatalf("control message of %d bytes", len(b))
		}
		out = append(out, ctrlMsg{binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint16(b[4:]),
			binary.LittleEndian.Uint16(b[6:]), string(b[8:])})
	}
	return out
}

// handshake plays Linux's virtio_console probe: DEVICE_READY, PORT_READY for each added port.
func (g *guest) handshake() {
	g.t.Helper()
	g.sendControl(0, console.EventDeviceReady, 1)
	adds := g.control(2)
	want := []ctrlMsg{{0, console.EventDeviceAdd, 1, ""}, {1, console.EventDeviceAdd, 1, ""}}
	if fmt.Sprint(adds) != fmt.Sprint(want) {
		g.t.Fatalf("after DEVICE_READY: %v, want %v", adds, want)
	}
	g.sendControl(0, console.EventPortReady, 1)
	got := g.control(2)
	want = []ctrlMsg{{0, console.EventConsolePort, 1, ""}, {0, console.EventPortOpen, 1, ""}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		g.t.Fatalf("after PORT_READY(0): %v, want %v", got, want)
	}
	g.sendControl(0, console.EventPortOpen, 1) // hvc0 opened by init_port_console
	g.sendControl(1, console.EventPortReady, 1)
	got = g.control(2)
	want = []ctrlMsg{{1, console.EventPortName, 1, agentName}, {1, console.EventPortOpen, 1, ""}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		g.t.Fatalf("after PORT_READY(1): %v, want %v", got, want)
	}
}

func TestConsoleBothWays(t *testing.T) {
	out := &syncBuffer{}
	g := start(t, out, virtio.FeatureVersion1|console.FeatureMultiport)
	g.handshake()
	g.send(tx0, []byte("Linux version 6.1\n"))
	if out.String() != "Linux version 6.1\n" {
		t.Fatalf("console output %q", out.String())
	}
	if _, err := g.dev.Console().Write([]byte("root\n")); err != nil {
		t.Fatal(err)
	}
	if got := g.receive(rx0, 1); string(got[0]) != "root\n" {
		t.Fatalf("console input %q", got[0])
	}
	if max := g.d.DeviceConfigRead(4, 4); max != 2 {
		t.Fatalf("max_nr_ports %d", max)
	}
}

func TestConsoleWithoutMultiport(t *testing.T) {
	out := &syncBuffer{}
	g := start(t, out, virtio.FeatureVersion1)
	g.send(tx0, []byte("early"))
	if out.String() != "early" {
		t.Fatalf("output %q", out.String())
	}
	g.dev.Console().Write([]byte("in"))
	if got := g.receive(rx0, 1); string(got[0]) != "in" {
		t.Fatalf("input %q", got[0])
	}
}

func TestNamedPort(t *testing.T) {
	g := start(t, io.Discard, virtio.FeatureVersion1|console.FeatureMultiport)
	p := g.dev.Port(agentName)
	if p == nil || g.dev.Port("nope") != nil {
		t.Fatal("port lookup by name")
	}
	// Host data written before the guest opens the port waits for it.
	if _, err := p.Write([]byte("hello agent")); err != nil {
		t.Fatal(err)
	}
	g.handshake()
	time.Sleep(20 * time.Millisecond)
	if len(g.d.Queues[rx1].TakeUsed()) != 0 {
		t.Fatal("data delivered to a port the guest has not opened")
	}
	if p.GuestConnected() {
		t.Fatal("port connected before the guest opened it")
	}
	g.sendControl(1, console.EventPortOpen, 1)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := p.WaitGuestConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if got := g.receive(rx1, 1); string(got[0]) != "hello agent" {
		t.Fatalf("guest received %q", got[0])
	}
	// Guest to host.
	g.send(tx1, []byte("clipboard: hi"))
	buf := make([]byte, 64)
	n, err := p.Read(buf)
	if err != nil || string(buf[:n]) != "clipboard: hi" {
		t.Fatalf("host read %q, %v", buf[:n], err)
	}
	// Guest closes.
	g.sendControl(1, console.EventPortOpen, 0)
	if p.GuestConnected() {
		t.Fatal("still connected after the guest closed the port")
	}
	// Host closes: the guest hears PORT_OPEN 0, reads return EOF.
	p.Close()
	if got := g.control(1); got[0] != (ctrlMsg{1, console.EventPortOpen, 0, ""}) {
		t.Fatalf("after host close: %v", got)
	}
	if _, err := p.Read(buf); err != io.EOF {
		t.Fatalf("read after close: %v", err)
	}
	if _, err := p.Write([]byte("x")); err == nil {
		t.Fatal("write after close succeeded")
	}
}

func TestHostileControlMessages(t *testing.T) {
	g := start(t, io.Discard, virtio.FeatureVersion1|console.FeatureMultiport)
	g.send(ctrlTx, []byte{1, 2, 3})                      // short
	g.sendControl(99, console.EventPortReady, 1)         // no such port
	g.sendControl(0xffff_ffff, console.EventPortOpen, 1) // no such port
	g.sendControl(1, console.EventPortName, 1)           // host-to-guest event
	g.sendControl(1, 0xffff, 0xffff)                     // unknown event
	g.sendControl(1, console.EventPortOpen, 1)           // open before the port was set up
	if g.dev.Port(agentName).GuestConnected() {
		t.Fatal("port opened before PORT_READY")
	}
	if g.d.Status()&virtio.StatusDeviceNeedsReset != 0 {
		t.Fatal("bad control messages broke the device")
	}
	// Repeated DEVICE_READY floods are bounded, and the device keeps working.
	for i := 0; i < 200; i++ {
		g.sendControl(0, console.EventDeviceReady, 1)
	}
	g.control(2)
	if g.d.Status()&virtio.StatusDeviceNeedsReset != 0 {
		t.Fatal("device broken")
	}
}

func TestResetKeepsHostBuffers(t *testing.T) {
	g := start(t, io.Discard, virtio.FeatureVersion1|console.FeatureMultiport)
	g.handshake()
	g.sendControl(1, console.EventPortOpen, 1)
	p := g.dev.Port(agentName)
	if err := g.d.Reset(); err != nil {
		t.Fatal(err)
	}
	if p.GuestConnected() {
		t.Fatal("connected after reset")
	}
	p.Write([]byte("after reset"))
	if err := g.d.Setup(virtio.FeatureVersion1|console.FeatureMultiport, 6); err != nil {
		t.Fatal(err)
	}
	g.posted = map[int]map[uint16]uint64{}
	for q := 0; q < 6; q += 2 {
		g.post(q, 4)
	}
	g.handshake()
	g.sendControl(1, console.EventPortOpen, 1)
	if got := g.receive(rx1, 1); string(got[0]) != "after reset" {
		t.Fatalf("received %q", got[0])
	}
}

func startUnplugged(t *testing.T) *guest {
	t.Helper()
	dev, err := console.New(console.Options{Output: io.Discard, Ports: []string{agentName}, Unplugged: []string{agentName}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := virtiotest.NewMachine(4 << 20)
	if err != nil {
		t.Fatal(err)
	}
	fn, d, err := m.Attach(dev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fn.Close() })
	if err := d.Setup(virtio.FeatureVersion1|console.FeatureMultiport, 6); err != nil {
		t.Fatal(err)
	}
	g := &guest{t: t, m: m, d: d, dev: dev, posted: map[int]map[uint16]uint64{}}
	for q := 0; q < 6; q += 2 {
		g.post(q, 4)
	}
	return g
}

// noControl checks the device sent no control message for a moment.
func (g *guest) noControl() {
	g.t.Helper()
	time.Sleep(20 * time.Millisecond)
	if used := g.d.Queues[ctrlRx].TakeUsed(); len(used) != 0 {
		g.t.Fatalf("%d unexpected control messages", len(used))
	}
}

func TestHotPlugAndUnplug(t *testing.T) {
	g := startUnplugged(t)
	if g.dev.Port(agentName) != nil {
		t.Fatal("an unplugged port is visible")
	}
	if max := g.d.DeviceConfigRead(4, 4); max != 2 {
		t.Fatalf("max_nr_ports %d: the unplugged port's ID must be reserved", max)
	}
	// Linux's probe: only port 0 is announced.
	g.sendControl(0, console.EventDeviceReady, 1)
	if got := g.control(1); got[0] != (ctrlMsg{0, console.EventDeviceAdd, 1, ""}) {
		t.Fatalf("after DEVICE_READY: %v", got)
	}
	g.noControl()
	g.sendControl(1, console.EventPortReady, 1) // a guest guessing at the absent port is ignored
	g.noControl()

	// Plug with the host end disconnected: DEVICE_ADD, then the name, and no PORT_OPEN.
	p, err := g.dev.Plug(agentName, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.dev.Plug(agentName, false); err == nil {
		t.Fatal("plugged twice")
	}
	if got := g.control(1); got[0] != (ctrlMsg{1, console.EventDeviceAdd, 1, ""}) {
		t.Fatalf("after Plug: %v", got)
	}
	g.sendControl(1, console.EventPortReady, 1)
	if got := g.control(1); got[0] != (ctrlMsg{1, console.EventPortName, 1, agentName}) {
		t.Fatalf("after PORT_READY: %v", got)
	}
	g.noControl()
	g.sendControl(1, console.EventPortOpen, 1)
	// Disconnected: the host neither reads nor writes, and what the guest sends is dropped.
	if _, err := p.Write([]byte("x")); err == nil {
		t.Fatal("write while disconnected")
	}
	g.send(tx1, []byte("stale"))
	if err := p.SetHostConnected(true); err != nil {
		t.Fatal(err)
	}
	if got := g.control(1); got[0] != (ctrlMsg{1, console.EventPortOpen, 1, ""}) {
		t.Fatalf("after connecting: %v", got)
	}
	g.send(tx1, []byte("fresh"))
	buf := make([]byte, 64)
	if n, err := p.Read(buf); err != nil || string(buf[:n]) != "fresh" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if _, err := p.Write([]byte("to guest")); err != nil {
		t.Fatal(err)
	}
	if got := g.receive(rx1, 1); string(got[0]) != "to guest" {
		t.Fatalf("guest received %q", got[0])
	}

	// Unplug: PORT_REMOVE, and the host end is closed at once, a blocked reader included.
	readErr := make(chan error, 1)
	go func() { _, err := p.Read(buf); readErr <- err }()
	time.Sleep(10 * time.Millisecond)
	if err := g.dev.Unplug(agentName); err != nil {
		t.Fatal(err)
	}
	if got := g.control(1); got[0] != (ctrlMsg{1, console.EventPortRemove, 1, ""}) {
		t.Fatalf("after Unplug: %v", got)
	}
	select {
	case err := <-readErr:
		if err != io.EOF {
			t.Fatalf("blocked read ended with %v", err)
		}
	case <-time.After(wait):
		t.Fatal("a blocked reader was not released by Unplug")
	}
	if _, err := p.Write([]byte("x")); err != console.ErrClosed {
		t.Fatalf("write after unplug: %v", err)
	}
	if g.dev.Port(agentName) != nil {
		t.Fatal("port still visible after Unplug")
	}
	g.send(tx1, []byte("after removal")) // the guest's late writes are consumed and dropped
	if g.d.Status()&virtio.StatusDeviceNeedsReset != 0 {
		t.Fatal("device broken")
	}

	// Plugged again: a fresh host end, connected from the start.
	p2, err := g.dev.Plug(agentName, true)
	if err != nil || p2 == p {
		t.Fatalf("replug: %v", err)
	}
	if got := g.control(1); got[0] != (ctrlMsg{1, console.EventDeviceAdd, 1, ""}) {
		t.Fatalf("after replug: %v", got)
	}
	g.sendControl(1, console.EventPortReady, 1)
	got := g.control(2)
	want := []ctrlMsg{{1, console.EventPortName, 1, agentName}, {1, console.EventPortOpen, 1, ""}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after PORT_READY: %v, want %v", got, want)
	}
	g.sendControl(1, console.EventPortOpen, 1)
	g.send(tx1, []byte("again"))
	if n, err := p2.Read(buf); err != nil || string(buf[:n]) != "again" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}

func TestGuestCloseGivesHostEOF(t *testing.T) {
	g := start(t, io.Discard, virtio.FeatureVersion1|console.FeatureMultiport)
	g.handshake()
	p := g.dev.Port(agentName)
	g.sendControl(1, console.EventPortOpen, 1)
	g.send(tx1, []byte("last words"))
	readErr := make(chan error, 1)
	buf := make([]byte, 64)
	n, err := p.Read(buf)
	if err != nil || string(buf[:n]) != "last words" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	go func() { _, err := p.Read(buf); readErr <- err }()
	time.Sleep(10 * time.Millisecond)
	g.sendControl(1, console.EventPortOpen, 0)
	select {
	case err := <-readErr:
		if err != io.EOF {
			t.Fatalf("read after the guest closed: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("the host reader did not hear the guest close the port")
	}
	// The EOF is given once: a guest program that opens the port again is heard.
	g.sendControl(1, console.EventPortOpen, 1)
	g.send(tx1, []byte("reopened"))
	if n, err := p.Read(buf); err != nil || string(buf[:n]) != "reopened" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}

func TestDisconnectDropsBuffersAndStopsNothing(t *testing.T) {
	g := start(t, io.Discard, virtio.FeatureVersion1|console.FeatureMultiport)
	g.handshake()
	p := g.dev.Port(agentName)
	g.sendControl(1, console.EventPortOpen, 1)
	// More than the host buffers: the guest's transmit queue waits for room.
	chunk := bytes.Repeat([]byte("g"), 200<<10)
	g.send(tx1, chunk)
	g.send(tx1, chunk)
	addr, err := g.m.Alloc(uint64(len(chunk)), 16)
	if err != nil {
		t.Fatal(err)
	}
	head, err := g.d.Queues[tx1].Add([]virtiotest.Buf{{Addr: addr, Len: uint32(len(chunk))}})
	if err != nil {
		t.Fatal(err)
	}
	g.d.Queues[tx1].Kick()
	time.Sleep(20 * time.Millisecond)
	if len(g.d.Queues[tx1].TakeUsed()) != 0 {
		t.Fatal("the device buffered beyond its bound")
	}
	if err := p.SetHostConnected(false); err != nil {
		t.Fatal(err)
	}
	used, err := g.d.Queues[tx1].Wait(1, wait)
	if err != nil || used[0].Head != head {
		t.Fatalf("the waiting transmit buffer was not released on disconnect: %v", err)
	}
	if got := g.control(1); got[0] != (ctrlMsg{1, console.EventPortOpen, 0, ""}) {
		t.Fatalf("after disconnect: %v", got)
	}
	if _, err := p.Read(make([]byte, 8)); err != io.EOF {
		t.Fatalf("read while disconnected: %v", err)
	}
}
