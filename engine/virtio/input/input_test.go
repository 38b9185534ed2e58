package input_test

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"paddock/engine/virtio"
	"paddock/engine/virtio/input"
	"paddock/engine/virtio/virtiotest"
)

const (
	wait     = 2 * time.Second
	eventq   = 0
	statusq  = 1
	nBuffers = 64 // what Linux's virtinput_fill_evt posts
)

type guest struct {
	t    *testing.T
	m    *virtiotest.Machine
	d    *virtiotest.Driver
	bufs map[uint16]uint64 // posted event buffers: head -> address
	got  []input.Event     // received and not yet taken by next
	hold bool              // keep used buffers instead of posting them again
}

func attach(t *testing.T, dev virtio.Device) *guest {
	t.Helper()
	m, err := virtiotest.NewMachine(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	fn, d, err := m.Attach(dev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fn.Close() })
	return &guest{t: t, m: m, d: d, bufs: map[uint16]uint64{}}
}

// start attaches dev and brings the driver up to DRIVER_OK without posting event buffers.
func start(t *testing.T, dev virtio.Device) *guest {
	t.Helper()
	g := attach(t, dev)
	if err := g.d.Setup(virtio.FeatureVersion1, 2); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *guest) configAddr(off uint32) uint64 {
	c := g.d.Caps[virtiotest.CapDevice]
	return g.d.BARs[c.BAR] + uint64(c.Offset) + uint64(off)
}

// selectCfg writes select and subsel byte by byte and reads size, as virtinput_cfg_select does.
func (g *guest) selectCfg(sel, subsel uint8) int {
	g.m.MMIOWrite(g.configAddr(0), 1, uint64(sel))
	g.m.MMIOWrite(g.configAddr(1), 1, uint64(subsel))
	return int(g.d.DeviceConfigRead(2, 1))
}

// payload reads n bytes of the union with 4-byte and 1-byte accesses.
func (g *guest) payload(n int) []byte {
	b := make([]byte, 0, n)
	for off := 0; off < n; {
		if n-off >= 4 {
			var w [4]byte
			binary.LittleEndian.PutUint32(w[:], uint32(g.d.DeviceConfigRead(uint32(8+off), 4)))
			b = append(b, w[:]...)
			off += 4
			continue
		}
		b = append(b, byte(g.d.DeviceConfigRead(uint32(8+off), 1)))
		off++
	}
	return b
}

// probed is what Linux's virtinput_probe learns from the configuration space.
type probed struct {
	name, serial string
	ids          [4]uint16
	props        []int
	hasRep       bool
	bits         map[uint8][]int // event type -> codes
	abs          map[int][5]int32
}

// linuxProbe queries the configuration the way virtinput_probe does.
func (g *guest) linuxProbe() probed {
	p := probed{bits: map[uint8][]int{}, abs: map[int][5]int32{}}
	str := func(sel uint8) string {
		n := g.selectCfg(sel, 0)
		return strings.TrimRight(string(g.payload(min(n, 64))), "\x00")
	}
	p.name, p.serial = str(input.CfgIDName), str(input.CfgIDSerial)
	if g.selectCfg(input.CfgIDDevIDs, 0) >= 8 {
		b := g.payload(8)
		for i := range p.ids {
			p.ids[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
	}
	bits := func(sel, subsel uint8) []int {
		n := g.selectCfg(sel, subsel)
		var out []int
		for i, b := range g.payload(n) {
			for j := 0; j < 8; j++ {
				if b&(1<<j) != 0 {
					out = append(out, 8*i+j)
				}
			}
		}
		return out
	}
	p.props = bits(input.CfgPropBits, 0)
	p.hasRep = g.selectCfg(input.CfgEvBits, input.EvRep) != 0
	for _, ev := range []uint8{input.EvKey, input.EvRel, input.EvAbs, 0x04, 0x05, input.EvLed, 0x12} {
		if codes := bits(input.CfgEvBits, ev); len(codes) > 0 {
			p.bits[ev] = codes
		}
	}
	for _, code := range p.bits[input.EvAbs] {
		g.selectCfg(input.CfgAbsInfo, uint8(code))
		b := g.payload(20)
		var a [5]int32
		for i := range a {
			a[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
		}
		p.abs[code] = a
	}
	return p
}

// post gives the device n 8-byte event buffers and notifies it.
func (g *guest) post(n int) {
	g.t.Helper()
	for i := 0; i < n; i++ {
		addr, err := g.m.Alloc(input.EventSize, 8)
		if err != nil {
			g.t.Fatal(err)
		}
		g.postAt(addr)
	}
	g.d.Queues[eventq].Kick()
}

func (g *guest) postAt(addr uint64) {
	head, err := g.d.Queues[eventq].Add([]virtiotest.Buf{{Addr: addr, Len: input.EventSize, Write: true}})
	if err != nil {
		g.t.Fatal(err)
	}
	g.bufs[head] = addr
}

// receive reads every event the device has written so far (waiting for at least one unless wantAny is false) and
// reposts the buffers, as virtinput_recv_events does.
func (g *guest) receive(wantAny bool) {
	g.t.Helper()
	var used []virtiotest.Used
	if wantAny {
		var err error
		if used, err = g.d.Queues[eventq].Wait(1, wait); err != nil {
			g.t.Fatal(err)
		}
	} else {
		used = g.d.Queues[eventq].TakeUsed()
	}
	for _, u := range used {
		addr, ok := g.bufs[u.Head]
		if !ok {
			g.t.Fatalf("device used head %d, which was not posted", u.Head)
		}
		if u.Len != input.EventSize {
			g.t.Fatalf("used length %d, want %d", u.Len, input.EventSize)
		}
		delete(g.bufs, u.Head)
		var b [input.EventSize]byte
		copy(b[:], g.m.RAM[addr:])
		g.got = append(g.got, input.DecodeEvent(b))
		if !g.hold {
			g.postAt(addr)
		}
	}
	if len(used) > 0 && !g.hold {
		g.d.Queues[eventq].Kick()
	}
}

// next returns the next n events the device delivers.
func (g *guest) next(n int) []input.Event {
	g.t.Helper()
	for len(g.got) < n {
		g.receive(true)
	}
	out := g.got[:n:n]
	g.got = g.got[n:]
	return out
}

// group returns the next event group, the SYN_REPORT that ends it excluded.
func (g *guest) group() []input.Event {
	g.t.Helper()
	var out []input.Event
	for {
		ev := g.next(1)[0]
		if ev == (input.Event{Type: input.EvSyn, Code: input.SynReport}) {
			return out
		}
		if len(out) > 32 {
			g.t.Fatalf("no SYN_REPORT after %v", out)
		}
		out = append(out, ev)
	}
}

func (g *guest) expectGroup(want ...input.Event) {
	g.t.Helper()
	if got := g.group(); fmt.Sprint(got) != fmt.Sprint(want) {
		g.t.Fatalf("event group %v, want %v", got, want)
	}
}

// drain receives until the device holds nothing more and returns every event.
func (g *guest) drain(dev *input.Device) []input.Event {
	g.t.Helper()
	deadline := time.Now().Add(wait)
	for dev.Pending() > 0 {
		if time.Now().After(deadline) {
			g.t.Fatalf("%d events still pending", dev.Pending())
		}
		g.receive(false)
		time.Sleep(time.Millisecond)
	}
	g.receive(false)
	out := g.got
	g.got = nil
	return out
}

func key(code uint16, v int32) input.Event {
	return input.Event{Type: input.EvKey, Code: code, Value: v}
}
func abs(code uint16, v int32) input.Event {
	return input.Event{Type: input.EvAbs, Code: code, Value: v}
}
func rel(code uint16, v int32) input.Event {
	return input.Event{Type: input.EvRel, Code: code, Value: v}
}
