package clipboard_test

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"paddock/engine/virtio"
	"paddock/engine/virtio/console"
	"paddock/engine/virtio/virtiotest"
	"paddock/library"
	"paddock/sharing/agent"
	"paddock/sharing/clipboard"
	"paddock/sharing/policy"
)

// Queue indexes of a console with one named port.
const ctrlRx, ctrlTx, rx1, tx1 = 2, 3, 4, 5

const vbuf = 4096

// guestPort is the guest's end of a named console port, driven through the virtqueues as Linux's
// virtio_console does: receive buffers posted ahead, transmit buffers submitted one at a time.
type guestPort struct {
	m      *virtiotest.Machine
	rx, tx *virtiotest.Queue
	posted map[uint16]uint64
	txBuf  uint64
	rmu    sync.Mutex
	wmu    sync.Mutex
	unread []byte
	closed chan struct{}
	once   sync.Once
}

func (g *guestPort) Close() { g.once.Do(func() { close(g.closed) }) }

func (g *guestPort) Read(p []byte) (int, error) {
	g.rmu.Lock()
	defer g.rmu.Unlock()
	for len(g.unread) == 0 {
		select {
		case <-g.closed:
			return 0, errors.New("guest port closed")
		default:
		}
		used, _ := g.rx.Wait(1, 50*time.Millisecond)
		for _, u := range used {
			addr := g.posted[u.Head]
			delete(g.posted, u.Head)
			g.unread = append(g.unread, g.m.RAM[addr:addr+uint64(min(u.Len, vbuf))]...)
			head, err := g.rx.Add([]virtiotest.Buf{{Addr: addr, Len: vbuf, Write: true}})
			if err != nil {
				return 0, err
			}
			g.posted[head] = addr
		}
		if len(used) > 0 {
			g.rx.Kick()
		}
	}
	n := copy(p, g.unread)
	g.unread = g.unread[n:]
	return n, nil
}

func (g *guestPort) Write(p []byte) (int, error) {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	done := 0
	for done < len(p) {
		n := copy(g.m.RAM[g.txBuf:g.txBuf+vbuf], p[done:])
		if _, err := g.tx.Submit([]virtiotest.Buf{{Addr: g.txBuf, Len: uint32(n)}}, wait); err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

func alloc(t *testing.T, m *virtiotest.Machine, n uint64) uint64 {
	t.Helper()
	a, err := m.Alloc(n, 16)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// openAgentPort brings the console up as the guest's driver does and opens the agent port from the guest side.
func openAgentPort(t *testing.T) (*console.Port, *guestPort) {
	t.Helper()
	dev, err := console.New(console.Options{Ports: []string{agent.PortName}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := virtiotest.NewMachine(8 << 20)
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
	for _, q := range []int{0, ctrlRx} {
		for i := 0; i < 8; i++ {
			if _, err := d.Queues[q].Add([]virtiotest.Buf{{Addr: alloc(t, m, 256), Len: 256, Write: true}}); err != nil {
				t.Fatal(err)
			}
		}
		d.Queues[q].Kick()
	}
	g := &guestPort{m: m, rx: d.Queues[rx1], tx: d.Queues[tx1], posted: map[uint16]uint64{}, txBuf: alloc(t, m, vbuf),
		closed: make(chan struct{})}
	t.Cleanup(g.Close)
	for i := 0; i < 16; i++ {
		addr := alloc(t, m, vbuf)
		head, err := g.rx.Add([]virtiotest.Buf{{Addr: addr, Len: vbuf, Write: true}})
		if err != nil {
			t.Fatal(err)
		}
		g.posted[head] = addr
	}
	g.rx.Kick()
	ctrlBuf := alloc(t, m, 8)
	control := func(id uint32, event, value uint16) {
		binary.LittleEndian.PutUint32(m.RAM[ctrlBuf:], id)
		binary.LittleEndian.PutUint16(m.RAM[ctrlBuf+4:], event)
		binary.LittleEndian.PutUint16(m.RAM[ctrlBuf+6:], value)
		if _, err := d.Queues[ctrlTx].Submit([]virtiotest.Buf{{Addr: ctrlBuf, Len: 8}}, wait); err != nil {
			t.Fatal(err)
		}
	}
	control(0, console.EventDeviceReady, 1)
	control(0, console.EventPortReady, 1)
	control(1, console.EventPortReady, 1)
	port := dev.Port(agent.PortName)
	if port.GuestConnected() {
		t.Fatal("agent port connected before the guest opened it")
	}
	control(1, console.EventPortOpen, 1) // the agent opens /dev/virtio-ports/org.paddock.agent.0
	c, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := port.WaitGuestConnected(c); err != nil {
		t.Fatal(err)
	}
	return port, g
}

// The agent's daemon and the host bridge, through the real virtio-console device model.
func TestThroughVirtioConsole(t *testing.T) {
	port, guest := openAgentPort(t)
	audit, host := &memAuditor{}, &hostClip{}
	b, err := clipboard.New(port, clipboard.Config{VMID: "vm-1", VMName: "debian", Host: host, Auditor: audit, Log: quiet(),
		Policy: library.SharePolicy{Clipboard: library.ClipboardBoth, ClipboardMaxBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	store := &agent.MemoryStore{}
	c, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); b.Run(c) }()                               //nolint:errcheck
	go func() { defer wg.Done(); agent.Daemon(c, guest, store, quiet()) }() //nolint:errcheck
	defer func() { cancel(); port.Close(); guest.Close(); wg.Wait() }()

	hello, err := b.Agent(ctx(t))
	if err != nil || hello.AgentVersion != agent.AgentVersion || hello.Capabilities&agent.CapClipboard == 0 {
		t.Fatalf("agent HELLO %+v, %v", hello, err)
	}
	long := string(make([]byte, 20000)) // several descriptors each way
	if err := b.SendToGuest(ctx(t), "über "+long); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Get(); got != "über "+long {
		t.Fatalf("guest clipboard has %d bytes", len(got))
	}
	store.Set("from the guest") //nolint:errcheck
	if text, err := b.RequestFromGuest(ctx(t)); err != nil || text != "from the guest" || host.text != "from the guest" {
		t.Fatalf("%q, %v; host %q", text, err, host.text)
	}
	b.SetPolicy(library.SharePolicy{Clipboard: library.ClipboardOff})
	if _, err := b.RequestFromGuest(ctx(t)); err == nil {
		t.Fatal("revoked channel still crossed")
	}
	entries := audit.all()
	if len(entries) != 3 || entries[0].Decision != "allowed" || entries[1].Decision != "allowed" ||
		entries[2].Rule != policy.RuleModeOff || entries[0].Bytes != int64(len("über "+long)) {
		t.Fatalf("audit %+v", entries)
	}
}
