package pci

import (
	"encoding/binary"
	"sync"
	"testing"

	"paddock/engine/bus"
	"paddock/engine/x86"
)

// recorder is a BAR handler that remembers the last access.
type recorder struct {
	mu      sync.Mutex
	lastOff uint64
	hits    int
}

func (r *recorder) Read(off uint64, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastOff, r.hits = off, r.hits+1
	for i := range data {
		data[i] = 0xAB
	}
}

func (r *recorder) Write(off uint64, data []byte) { r.Read(off, make([]byte, len(data))) }

type testFn struct{ cs *ConfigSpace }

func (f testFn) Config() *ConfigSpace { return f.cs }

type rig struct {
	root *Root
	io   *bus.Bus
	mmio *bus.Bus
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{io: &bus.Bus{}, mmio: &bus.Bus{}}
	r.root = NewRoot(r.mmio, nil)
	if err := r.io.Register(x86.PortPCIConfig, 8, r.root.ConfigPorts()); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) read(slot int, reg uint32, n int) uint32 {
	var a [4]byte
	binary.LittleEndian.PutUint32(a[:], 1<<31|uint32(slot)<<11|reg&0xfc)
	r.io.Write(0xCF8, a[:])
	var b [4]byte
	r.io.Read(0xCFC+uint64(reg&3), b[:n])
	return binary.LittleEndian.Uint32(b[:])
}

func (r *rig) write(slot int, reg uint32, n int, v uint32) {
	var a [4]byte
	binary.LittleEndian.PutUint32(a[:], 1<<31|uint32(slot)<<11|reg&0xfc)
	r.io.Write(0xCF8, a[:])
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	r.io.Write(0xCFC+uint64(reg&3), b[:n])
}

func TestHostBridgeAndAbsentFunctions(t *testing.T) {
	r := newRig(t)
	if got := r.read(0, 0, 4); got != HostBridgeDevice<<16|HostBridgeVendor {
		t.Fatalf("host bridge ID = %#x", got)
	}
	if got := r.read(0, RegClass+1, 2); got != 0x0600 {
		t.Fatalf("host bridge class/subclass = %#x, want 0x0600", got)
	}
	if got := r.read(0, 0x0B, 1); got != 0x06 {
		t.Fatalf("byte read of base class at 0xCFF = %#x", got)
	}
	if got := r.read(5, 0, 4); got != 0xffff_ffff {
		t.Fatalf("empty slot reads %#x", got)
	}
	if got := r.read(0, 2, 2); got != HostBridgeDevice {
		t.Fatalf("word read = %#x", got)
	}
	// Without the enable bit nothing answers.
	var a [4]byte
	binary.LittleEndian.PutUint32(a[:], 0)
	r.io.Write(0xCF8, a[:])
	var b [4]byte
	r.io.Read(0xCFC, b[:])
	if binary.LittleEndian.Uint32(b[:]) != 0xffff_ffff {
		t.Fatalf("disabled config access read %x", b)
	}
	// CONFIG_ADDRESS reads back (Linux's type-1 probe relies on it).
	binary.LittleEndian.PutUint32(a[:], 0x8000_0000)
	r.io.Write(0xCF8, a[:])
	r.io.Read(0xCF8, b[:])
	if binary.LittleEndian.Uint32(b[:]) != 0x8000_0000 {
		t.Fatalf("CONFIG_ADDRESS read back %x", b)
	}
	// Another bus number: absent.
	binary.LittleEndian.PutUint32(a[:], 0x8001_0000)
	r.io.Write(0xCF8, a[:])
	r.io.Read(0xCFC, b[:])
	if binary.LittleEndian.Uint32(b[:]) != 0xffff_ffff {
		t.Fatalf("bus 1 read %x", b)
	}
}

func newTestFn(t *testing.T, h32, h64 *recorder) testFn {
	t.Helper()
	cs := NewConfigSpace(Header{VendorID: 0x1234, DeviceID: 0x5678, Class: 0xff0000})
	if err := cs.SetBAR(0, BAR{Size: 0x1000, Handler: h32}); err != nil {
		t.Fatal(err)
	}
	if err := cs.SetBAR(2, BAR{Size: 0x4000, Is64: true, Prefetchable: true, Handler: h64}); err != nil {
		t.Fatal(err)
	}
	return testFn{cs}
}

func TestBARSizingAndPlacement(t *testing.T) {
	r := newRig(t)
	h32, h64 := &recorder{}, &recorder{}
	fn := newTestFn(t, h32, h64)
	slot, err := r.root.AddSlot(fn)
	if err != nil {
		t.Fatal(err)
	}
	bar0 := r.read(slot, RegBAR0, 4)
	bar2 := uint64(r.read(slot, RegBAR0+8, 4)) | uint64(r.read(slot, RegBAR0+12, 4))<<32
	if bar0 < x86.PCIMMIOStart || bar0 >= x86.PCIMMIOEnd || bar0%0x1000 != 0 {
		t.Fatalf("BAR0 initial address %#x", bar0)
	}
	if bar2&0xf != 0xC || bar2&^0xf < x86.PCIMMIOStart || bar2%0x4000 != 0xC {
		t.Fatalf("BAR2 initial value %#x (want 64-bit prefetchable, aligned, in window)", bar2)
	}

	// Size probing with decode off, as Linux does.
	r.write(slot, RegBAR0, 4, 0xffff_ffff)
	if got := r.read(slot, RegBAR0, 4); got != 0xffff_f000 {
		t.Fatalf("BAR0 size mask = %#x", got)
	}
	r.write(slot, RegBAR0+8, 4, 0xffff_ffff)
	r.write(slot, RegBAR0+12, 4, 0xffff_ffff)
	if lo, hi := r.read(slot, RegBAR0+8, 4), r.read(slot, RegBAR0+12, 4); lo != 0xffff_c00c || hi != 0xffff_ffff {
		t.Fatalf("64-bit BAR size mask = %#x:%#x", hi, lo)
	}
	// Unused BAR slots read 0 and ignore writes.
	r.write(slot, RegBAR0+4, 4, 0xffff_ffff)
	if got := r.read(slot, RegBAR0+4, 4); got != 0 {
		t.Fatalf("unused BAR1 reads %#x", got)
	}

	// Program addresses, then turn decode on.
	r.write(slot, RegBAR0, 4, 0xD000_0000)
	r.write(slot, RegBAR0+8, 4, 0x0000_0000)
	r.write(slot, RegBAR0+12, 4, 0x1)
	var b [4]byte
	if r.mmio.Read(0xD000_0010, b[:]) {
		t.Fatal("BAR answers with memory decode off")
	}
	r.write(slot, RegCommand, 2, CommandMemory)
	if !r.mmio.Read(0xD000_0010, b[:]) || h32.lastOff != 0x10 {
		t.Fatalf("BAR0 not mapped at its programmed address (last offset %#x)", h32.lastOff)
	}
	if !r.mmio.Read(0x1_0000_0020, b[:]) || h64.lastOff != 0x20 {
		t.Fatal("64-bit BAR not mapped above 4 GiB")
	}
	// Move BAR0 with a byte write to its third byte: 0xD000_0000 -> 0xD010_0000.
	r.write(slot, RegBAR0+2, 1, 0x10)
	if r.mmio.Read(0xD000_0010, b[:]) {
		t.Fatal("old BAR0 address still mapped after the move")
	}
	if !r.mmio.Read(0xD010_0000, b[:]) {
		t.Fatal("BAR0 not mapped at its new address")
	}
	// Decode off unmaps everything.
	r.write(slot, RegCommand, 2, 0)
	if r.mmio.Read(0xD010_0000, b[:]) || r.mmio.Read(0x1_0000_0000, b[:]) {
		t.Fatal("BARs still mapped with decode off")
	}
	// The interrupt pin is 0 and the line register is the OS's scratch byte.
	if got := r.read(slot, RegInterruptPin, 1); got != 0 {
		t.Fatalf("interrupt pin = %d", got)
	}
	r.write(slot, RegInterruptLine, 1, 11)
	if got := r.read(slot, RegInterruptLine, 1); got != 11 {
		t.Fatalf("interrupt line = %d", got)
	}
	// Read-only identity.
	r.write(slot, 0, 4, 0)
	if got := r.read(slot, 0, 4); got != 0x5678_1234 {
		t.Fatalf("ID changed by a write: %#x", got)
	}
}

func TestCapabilityList(t *testing.T) {
	cs := NewConfigSpace(Header{VendorID: 1})
	a, err := cs.AddCapability(0x09, []byte{4, 1, 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cs.AddCapability(0x11, make([]byte, 10), []byte{0, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0})
	if err != nil {
		t.Fatal(err)
	}
	var one [1]byte
	cs.Read(RegCapPointer, one[:])
	if uint32(one[0]) != a || a != 0x40 {
		t.Fatalf("capability pointer = %#x", one[0])
	}
	cs.Read(a+1, one[:])
	if uint32(one[0]) != b || b%4 != 0 {
		t.Fatalf("next pointer = %#x, want %#x", one[0], b)
	}
	cs.Read(b+1, one[:])
	if one[0] != 0 {
		t.Fatal("list not terminated")
	}
	var st [2]byte
	cs.Read(RegStatus, st[:])
	if st[0]&StatusCapabilities == 0 {
		t.Fatal("status lacks the capability-list bit")
	}
	// Only masked bits change.
	cs.Write(b+2, []byte{0xff, 0xff})
	var ctrl [2]byte
	cs.Read(b+2, ctrl[:])
	if ctrl != [2]byte{0, 0xc0} {
		t.Fatalf("masked write gave %x", ctrl)
	}
	if _, err := cs.AddCapability(0x09, make([]byte, 300), nil); err == nil {
		t.Fatal("oversized capability accepted")
	}
}

func TestBARValidation(t *testing.T) {
	cs := NewConfigSpace(Header{})
	h := &recorder{}
	for _, tc := range []struct {
		i int
		b BAR
	}{
		{0, BAR{Size: 3000, Handler: h}},
		{0, BAR{Size: 8, Handler: h}},
		{5, BAR{Size: 0x1000, Is64: true, Handler: h}},
		{6, BAR{Size: 0x1000, Handler: h}},
		{0, BAR{Size: 0x1000}},
	} {
		if err := cs.SetBAR(tc.i, tc.b); err == nil {
			t.Errorf("SetBAR(%d, %+v) accepted", tc.i, tc.b)
		}
	}
	if err := cs.SetBAR(0, BAR{Size: 0x1000, Is64: true, Handler: h}); err != nil {
		t.Fatal(err)
	}
	if err := cs.SetBAR(1, BAR{Size: 0x1000, Handler: h}); err == nil {
		t.Fatal("BAR1 accepted while it holds BAR0's upper half")
	}
}

func TestWindowExhaustion(t *testing.T) {
	r := newRig(t)
	cs := NewConfigSpace(Header{})
	if err := cs.SetBAR(0, BAR{Size: 1 << 30, Is64: true, Handler: &recorder{}}); err != nil {
		t.Fatal(err)
	}
	if err := r.root.Add(testFn{cs}); err == nil {
		t.Fatal("a 1 GiB BAR fit in a 512 MiB window")
	}
}
