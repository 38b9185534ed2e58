package machine

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"paddock/engine/control"
	"paddock/engine/virtio"
	"paddock/engine/virtio/console"
	"paddock/engine/virtio/virtiotest"
)

// agentGuest is a guest's virtio-console driver, enough to set the agent port up and move bytes on it.
type agentGuest struct {
	t *testing.T
	m *virtiotest.Machine
	d *virtiotest.Driver
}

const (
	qCtrlRx, qCtrlTx, qRx1, qTx1 = 2, 3, 4, 5
	linkWait                     = 2 * time.Second
)

func (g *agentGuest) post(q int) {
	addr, err := g.m.Alloc(256, 16)
	if err != nil {
		g.t.Fatal(err)
	}
	if _, err := g.d.Queues[q].Add([]virtiotest.Buf{{Addr: addr, Len: 256, Write: true}}); err != nil {
		g.t.Fatal(err)
	}
	g.d.Queues[q].Kick()
}

func (g *agentGuest) send(q int, data []byte) {
	g.t.Helper()
	addr, err := g.m.Alloc(uint64(len(data)), 16)
	if err != nil {
		g.t.Fatal(err)
	}
	copy(g.m.RAM[addr:], data)
	if _, err := g.d.Queues[q].Submit([]virtiotest.Buf{{Addr: addr, Len: uint32(len(data))}}, linkWait); err != nil {
		g.t.Fatal(err)
	}
}

func (g *agentGuest) control(id uint32, event, value uint16) {
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], id)
	binary.LittleEndian.PutUint16(b[4:], event)
	binary.LittleEndian.PutUint16(b[6:], value)
	g.send(qCtrlTx, b[:])
}

func newLinkMachine(t *testing.T) (*Machine, *agentGuest, *boot) {
	m := &Machine{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	b := &boot{}
	cons, err := m.newConsole(b)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := virtiotest.NewMachine(4 << 20)
	if err != nil {
		t.Fatal(err)
	}
	fn, d, err := vm.Attach(cons)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fn.Close() })
	if err := d.Setup(virtio.FeatureVersion1|console.FeatureMultiport, 6); err != nil {
		t.Fatal(err)
	}
	g := &agentGuest{t: t, m: vm, d: d}
	for i := 0; i < 16; i++ {
		g.post(qCtrlRx)
		g.post(qRx1)
	}
	g.control(0, console.EventDeviceReady, 1)
	return m, g, b
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(linkWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for " + what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestAgentChannel(t *testing.T) {
	m, g, b := newLinkMachine(t)
	if _, _, err := m.openAgentChannel(); !errors.Is(err, control.ErrClipboardOff) {
		t.Fatalf("channel with the clipboard off: %v", err)
	}
	if st := m.ClipboardState(); st.PortPlugged {
		t.Fatal("agent port present with the clipboard off")
	}
	if err := m.SetClipboard("sideways"); err == nil {
		t.Fatal("unknown mode accepted")
	}
	if err := m.SetClipboard(control.ClipboardBoth); err != nil {
		t.Fatal(err)
	}
	// The guest driver hears DEVICE_ADD and sets the port up; paddock-agent opens it.
	g.control(1, console.EventPortReady, 1)
	g.control(1, console.EventPortOpen, 1)
	waitFor(t, "the guest to open the port", func() bool { return m.ClipboardState().GuestConnected })

	fds, st, err := m.openAgentChannel()
	if err != nil || !st.ChannelOpen || !st.PortPlugged {
		t.Fatalf("open: %+v, %v", st, err)
	}
	if _, _, err := m.openAgentChannel(); !errors.Is(err, control.ErrChannelBusy) {
		t.Fatalf("second channel: %v", err)
	}
	fromGuest, toGuest := os.NewFile(uintptr(fds[0]), "r"), os.NewFile(uintptr(fds[1]), "w")
	defer fromGuest.Close()
	defer toGuest.Close()
	g.send(qTx1, []byte("from the agent"))
	buf := make([]byte, 64)
	if n, err := fromGuest.Read(buf); err != nil || string(buf[:n]) != "from the agent" {
		t.Fatalf("holder read %q, %v", buf[:n], err)
	}
	if _, err := toGuest.Write([]byte("to the agent")); err != nil {
		t.Fatal(err)
	}
	used, err := g.d.Queues[qRx1].Wait(1, linkWait)
	if err != nil || used[0].Len != uint32(len("to the agent")) {
		t.Fatalf("guest receive: %v %v", used, err)
	}

	// Revocation: the mode goes off, the port goes away and the holder's stream ends at once.
	if err := m.SetClipboard(control.ClipboardOff); err != nil {
		t.Fatal(err)
	}
	if n, err := fromGuest.Read(buf); err != io.EOF {
		t.Fatalf("holder read after revocation: %d, %v", n, err)
	}
	if st := m.ClipboardState(); st.PortPlugged || st.ChannelOpen {
		t.Fatalf("after off: %+v", st)
	}

	// On again, a new channel; the guest program closing its port ends it, and another may be opened.
	if err := m.SetClipboard(control.ClipboardGuestToHost); err != nil {
		t.Fatal(err)
	}
	g.control(1, console.EventPortReady, 1)
	g.control(1, console.EventPortOpen, 1)
	fds, _, err = m.openAgentChannel()
	if err != nil {
		t.Fatal(err)
	}
	r2 := os.NewFile(uintptr(fds[0]), "r2")
	defer r2.Close()
	unix.Close(fds[1])
	waitFor(t, "the holder's hang-up to end the channel", func() bool { return !m.ClipboardState().ChannelOpen })
	if n, err := r2.Read(buf); err != io.EOF {
		t.Fatalf("after the holder hung up: %d, %v", n, err)
	}
	fds, _, err = m.openAgentChannel()
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	r3 := os.NewFile(uintptr(fds[0]), "r3")
	defer r3.Close()
	defer unix.Close(fds[1])
	g.control(1, console.EventPortOpen, 0)
	if n, err := r3.Read(buf); err != io.EOF {
		t.Fatalf("after the guest closed the port: %d, %v", n, err)
	}

	// The boot ends: no port, no channel, and the mode is kept for the next boot.
	b.close()
	if st := m.ClipboardState(); st.PortPlugged || st.ChannelOpen || st.Mode != control.ClipboardGuestToHost {
		t.Fatalf("after the boot: %+v", st)
	}
	if _, _, err := m.openAgentChannel(); err == nil {
		t.Fatal("channel without a running guest")
	}
}
