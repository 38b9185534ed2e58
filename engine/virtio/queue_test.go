package virtio

import (
	"encoding/binary"
	"errors"
	"testing"

	"paddock/engine/guestmem"
)

const (
	tRAM   = 64 << 10
	tDesc  = 0x1000
	tAvail = 0x2000
	tUsed  = 0x3000
	tData  = 0x8000
	tSize  = 8
)

type ring struct {
	t   testing.TB
	ram []byte
	mem *guestmem.Memory
	q   *Queue
}

func newRing(t testing.TB, features uint64) *ring {
	t.Helper()
	ram := make([]byte, tRAM)
	mem, err := guestmem.New(guestmem.Region{GPA: 0, Host: ram})
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewQueue(mem, QueueConfig{Size: tSize, Desc: tDesc, Driver: tAvail, Device: tUsed}, features)
	if err != nil {
		t.Fatal(err)
	}
	return &ring{t: t, ram: ram, mem: mem, q: q}
}

func (r *ring) desc(table uint64, i int, addr uint64, length uint32, flags, next uint16) {
	b := r.ram[table+16*uint64(i):]
	binary.LittleEndian.PutUint64(b[0:], addr)
	binary.LittleEndian.PutUint32(b[8:], length)
	binary.LittleEndian.PutUint16(b[12:], flags)
	binary.LittleEndian.PutUint16(b[14:], next)
}

// publish makes head available and returns the new avail index.
func (r *ring) publish(head uint16) {
	idx := binary.LittleEndian.Uint16(r.ram[tAvail+2:])
	binary.LittleEndian.PutUint16(r.ram[tAvail+4+2*uint64(idx%tSize):], head)
	binary.LittleEndian.PutUint16(r.ram[tAvail+2:], idx+1)
}

func (r *ring) next() (*Chain, error) {
	var c Chain
	ok, err := r.q.Next(&c)
	if err == nil && !ok {
		r.t.Fatal("no chain available")
	}
	return &c, err
}

func TestChainReadableThenWritable(t *testing.T) {
	r := newRing(t, 0)
	copy(r.ram[tData:], "header")
	r.desc(tDesc, 3, tData, 6, DescFlagNext, 5)
	r.desc(tDesc, 5, tData+0x100, 100, DescFlagNext|DescFlagWrite, 1)
	r.desc(tDesc, 1, tData+0x200, 1, DescFlagWrite, 0)
	r.publish(3)
	c, err := r.next()
	if err != nil {
		t.Fatal(err)
	}
	if c.Head != 3 || len(c.Readable) != 1 || len(c.Writable) != 2 || c.ReadableLen != 6 || c.WritableLen != 101 {
		t.Fatalf("chain = %+v", c)
	}
	if string(c.Readable[0]) != "header" {
		t.Fatalf("readable = %q", c.Readable[0])
	}
	c.CopyTo([]byte("xyz"), 99)
	if r.ram[tData+0x100+99] != 'x' || r.ram[tData+0x200] != 'y' {
		t.Fatal("CopyTo did not straddle the buffers")
	}
	r.q.Push(c.Head, 101)
	if idx := binary.LittleEndian.Uint16(r.ram[tUsed+2:]); idx != 1 {
		t.Fatalf("used idx = %d", idx)
	}
	if id, n := binary.LittleEndian.Uint32(r.ram[tUsed+4:]), binary.LittleEndian.Uint32(r.ram[tUsed+8:]); id != 3 || n != 101 {
		t.Fatalf("used elem = %d/%d", id, n)
	}
	var c2 Chain
	if ok, err := r.q.Next(&c2); ok || err != nil {
		t.Fatalf("second Next = %v, %v", ok, err)
	}
}

func TestHostileChains(t *testing.T) {
	const indirect = 0x4000
	cases := []struct {
		name     string
		features uint64
		build    func(r *ring)
	}{
		{"loop", 0, func(r *ring) {
			r.desc(tDesc, 0, tData, 8, DescFlagNext, 1)
			r.desc(tDesc, 1, tData, 8, DescFlagNext, 0)
			r.publish(0)
		}},
		{"self loop", 0, func(r *ring) {
			r.desc(tDesc, 2, tData, 8, DescFlagNext, 2)
			r.publish(2)
		}},
		{"next out of table", 0, func(r *ring) {
			r.desc(tDesc, 0, tData, 8, DescFlagNext, tSize)
			r.publish(0)
		}},
		{"head out of table", 0, func(r *ring) { r.publish(200) }},
		{"address past RAM", 0, func(r *ring) {
			r.desc(tDesc, 0, tRAM, 8, 0, 0)
			r.publish(0)
		}},
		{"buffer straddles end of RAM", 0, func(r *ring) {
			r.desc(tDesc, 0, tRAM-4, 8, DescFlagWrite, 0)
			r.publish(0)
		}},
		{"length overflows address", 0, func(r *ring) {
			r.desc(tDesc, 0, 0xffff_ffff_ffff_f000, 0x2000, 0, 0)
			r.publish(0)
		}},
		{"readable after writable", 0, func(r *ring) {
			r.desc(tDesc, 0, tData, 8, DescFlagWrite|DescFlagNext, 1)
			r.desc(tDesc, 1, tData, 8, 0, 0)
			r.publish(0)
		}},
		{"indirect not negotiated", 0, func(r *ring) {
			r.desc(tDesc, 0, indirect, 16, DescFlagIndirect, 0)
			r.publish(0)
		}},
		{"indirect inside indirect", FeatureRingIndirectDesc, func(r *ring) {
			r.desc(indirect, 0, tData, 8, DescFlagNext, 1)
			r.desc(indirect, 1, indirect+0x100, 16, DescFlagIndirect, 0)
			r.desc(tDesc, 0, indirect, 32, DescFlagIndirect, 0)
			r.publish(0)
		}},
		{"indirect with NEXT", FeatureRingIndirectDesc, func(r *ring) {
			r.desc(indirect, 0, tData, 8, 0, 0)
			r.desc(tDesc, 0, indirect, 16, DescFlagIndirect|DescFlagNext, 1)
			r.desc(tDesc, 1, tData, 8, 0, 0)
			r.publish(0)
		}},
		{"indirect length not a multiple of 16", FeatureRingIndirectDesc, func(r *ring) {
			r.desc(tDesc, 0, indirect, 24, DescFlagIndirect, 0)
			r.publish(0)
		}},
		{"empty indirect table", FeatureRingIndirectDesc, func(r *ring) {
			r.desc(tDesc, 0, indirect, 0, DescFlagIndirect, 0)
			r.publish(0)
		}},
		{"huge indirect table", FeatureRingIndirectDesc, func(r *ring) {
			r.desc(tDesc, 0, 0, 16*(MaxIndirectDescs+1), DescFlagIndirect, 0)
			r.publish(0)
		}},
		{"indirect table past RAM", FeatureRingIndirectDesc, func(r *ring) {
			r.desc(tDesc, 0, tRAM-16, 32, DescFlagIndirect, 0)
			r.publish(0)
		}},
		{"loop inside indirect table", FeatureRingIndirectDesc, func(r *ring) {
			r.desc(indirect, 0, tData, 8, DescFlagNext, 1)
			r.desc(indirect, 1, tData, 8, DescFlagNext, 0)
			r.desc(tDesc, 0, indirect, 32, DescFlagIndirect, 0)
			r.publish(0)
		}},
		{"indirect next out of table", FeatureRingIndirectDesc, func(r *ring) {
			r.desc(indirect, 0, tData, 8, DescFlagNext, 2)
			r.desc(tDesc, 0, indirect, 32, DescFlagIndirect, 0)
			r.publish(0)
		}},
		{"avail index jumps past the queue size", 0, func(r *ring) {
			r.desc(tDesc, 0, tData, 8, 0, 0)
			binary.LittleEndian.PutUint16(r.ram[tAvail+2:], tSize+1)
		}},
		{"avail index goes backwards", 0, func(r *ring) {
			binary.LittleEndian.PutUint16(r.ram[tAvail+2:], 0xffff)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRing(t, tc.features)
			tc.build(r)
			var c Chain
			ok, err := r.q.Next(&c)
			if !errors.Is(err, ErrBadQueue) {
				t.Fatalf("Next = %v, %v; want a virtqueue violation", ok, err)
			}
		})
	}
}

func TestIndirectChain(t *testing.T) {
	r := newRing(t, FeatureRingIndirectDesc)
	const table = 0x4000
	r.desc(table, 0, tData, 16, DescFlagNext, 1)
	r.desc(table, 1, tData+0x1000, 4096, DescFlagNext|DescFlagWrite, 2)
	r.desc(table, 2, tData+0x2000, 1, DescFlagWrite, 0)
	r.desc(tDesc, 4, table, 48, DescFlagIndirect|DescFlagWrite, 0) // WRITE on the indirect descriptor is ignored
	r.publish(4)
	c, err := r.next()
	if err != nil {
		t.Fatal(err)
	}
	if c.Head != 4 || c.ReadableLen != 16 || c.WritableLen != 4097 || len(c.Writable) != 2 {
		t.Fatalf("chain = %+v", c)
	}
}

func TestFullLengthChainAccepted(t *testing.T) {
	r := newRing(t, 0)
	for i := 0; i < tSize; i++ {
		flags := uint16(DescFlagNext)
		if i == tSize-1 {
			flags = 0
		}
		r.desc(tDesc, i, tData, 8, flags, uint16(i+1))
	}
	r.publish(0)
	c, err := r.next()
	if err != nil || len(c.Readable) != tSize {
		t.Fatalf("chain of queue size: %v, %d buffers", err, len(c.Readable))
	}
}

func TestNewQueueValidation(t *testing.T) {
	mem, _ := guestmem.New(guestmem.Region{GPA: 0, Host: make([]byte, tRAM)})
	for _, cfg := range []QueueConfig{
		{Size: 0, Desc: tDesc, Driver: tAvail, Device: tUsed},
		{Size: 6, Desc: tDesc, Driver: tAvail, Device: tUsed},
		{Size: 65535, Desc: tDesc, Driver: tAvail, Device: tUsed},
		{Size: 8, Desc: tDesc + 8, Driver: tAvail, Device: tUsed},
		{Size: 8, Desc: tDesc, Driver: tAvail + 1, Device: tUsed},
		{Size: 8, Desc: tDesc, Driver: tAvail, Device: tUsed + 2},
		{Size: 8, Desc: tRAM - 64, Driver: tAvail, Device: tUsed},
		{Size: 4096, Desc: tRAM - 0x4000, Driver: tAvail, Device: tUsed},
		{Size: 8, Desc: tDesc, Driver: tAvail, Device: 1 << 40},
	} {
		if _, err := NewQueue(mem, cfg, 0); !errors.Is(err, ErrBadQueue) {
			t.Errorf("NewQueue(%+v) = %v", cfg, err)
		}
	}
}

func TestInterruptSuppression(t *testing.T) {
	r := newRing(t, 0)
	r.q.Push(0, 0)
	if !r.q.NeedsInterrupt() {
		t.Fatal("no interrupt without suppression")
	}
	binary.LittleEndian.PutUint16(r.ram[tAvail:], AvailFlagNoIntr)
	if r.q.NeedsInterrupt() {
		t.Fatal("interrupt despite NO_INTERRUPT")
	}

	r = newRing(t, FeatureRingEventIdx)
	usedEvent := r.ram[tAvail+4+2*tSize:]
	binary.LittleEndian.PutUint16(usedEvent, 1) // interrupt once used idx passes 1
	r.q.Push(0, 0)                              // used idx 1
	if r.q.NeedsInterrupt() {
		t.Fatal("interrupt before used_event was passed")
	}
	r.q.Push(0, 0) // used idx 2
	if !r.q.NeedsInterrupt() {
		t.Fatal("no interrupt once used_event was passed")
	}
	r.q.Push(0, 0)
	if r.q.NeedsInterrupt() {
		t.Fatal("second interrupt for the same used_event")
	}
	// With nothing available, the device publishes avail_event = its next slot.
	var c Chain
	if ok, _ := r.q.Next(&c); ok {
		t.Fatal("chain from an empty ring")
	}
	if ev := binary.LittleEndian.Uint16(r.ram[tUsed+4+8*tSize:]); ev != 0 {
		t.Fatalf("avail_event = %d", ev)
	}
}

// FuzzChainWalker feeds arbitrary descriptor tables, avail rings and indirect tables to the walker. It must never
// panic, never hand out memory outside RAM, and never loop.
func FuzzChainWalker(f *testing.F) {
	seed := func(descs [][4]uint64, heads []uint16, idx uint16) []byte {
		b := make([]byte, 16*tSize+2*tSize+2+16*4)
		for i, d := range descs {
			binary.LittleEndian.PutUint64(b[16*i:], d[0])
			binary.LittleEndian.PutUint32(b[16*i+8:], uint32(d[1]))
			binary.LittleEndian.PutUint16(b[16*i+12:], uint16(d[2]))
			binary.LittleEndian.PutUint16(b[16*i+14:], uint16(d[3]))
		}
		for i, h := range heads {
			binary.LittleEndian.PutUint16(b[16*tSize+2*i:], h)
		}
		binary.LittleEndian.PutUint16(b[16*tSize+2*tSize:], idx)
		return b
	}
	f.Add(seed([][4]uint64{{tData, 16, DescFlagNext, 1}, {tData + 64, 64, DescFlagWrite, 0}}, []uint16{0}, 1))
	f.Add(seed([][4]uint64{{tData, 8, DescFlagNext, 1}, {tData, 8, DescFlagNext, 0}}, []uint16{0}, 1))
	f.Add(seed([][4]uint64{{0x5000, 32, DescFlagIndirect, 0}}, []uint16{0, 0, 0}, 3))
	f.Add(seed([][4]uint64{{0xffff_ffff_ffff_fff0, 0x20, 0, 0}}, []uint16{0}, 1))
	f.Add(seed(nil, []uint16{7, 300}, 0x8000))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newRing(t, FeatureRingIndirectDesc|FeatureRingEventIdx)
		n := copy(r.ram[tDesc:tDesc+16*tSize], data)
		data = data[n:]
		n = copy(r.ram[tAvail+4:tAvail+4+2*tSize], data)
		data = data[n:]
		if len(data) >= 2 {
			copy(r.ram[tAvail+2:tAvail+4], data[:2])
			data = data[2:]
		}
		copy(r.ram[0x5000:0x6000], data) // an indirect table, should a descriptor point here
		var c Chain
		for i := 0; i < 2*tSize; i++ {
			ok, err := r.q.Next(&c)
			if err != nil || !ok {
				return
			}
			if len(c.Readable)+len(c.Writable) > tSize+MaxIndirectDescs {
				t.Fatalf("chain of %d buffers", len(c.Readable)+len(c.Writable))
			}
			var rl, wl uint64
			for _, b := range c.Readable {
				rl += uint64(len(b))
			}
			for _, b := range c.Writable {
				wl += uint64(len(b))
			}
			if rl != c.ReadableLen || wl != c.WritableLen {
				t.Fatalf("lengths %d/%d, buffers add up to %d/%d", c.ReadableLen, c.WritableLen, rl, wl)
			}
			r.q.Push(c.Head, uint32(wl))
		}
	})
}
