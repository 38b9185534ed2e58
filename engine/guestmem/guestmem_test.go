package guestmem

import (
	"errors"
	"math"
	"testing"
)

func TestSliceBounds(t *testing.T) {
	low := make([]byte, 0x1000)
	high := make([]byte, 0x2000)
	m, err := New(Region{GPA: 0x10000, Host: high}, Region{GPA: 0, Host: low})
	if err != nil {
		t.Fatal(err)
	}
	if m.Size() != 0x3000 || m.Regions()[0].GPA != 0 {
		t.Fatalf("size %#x, regions %v", m.Size(), m.Regions())
	}
	ok := []struct{ gpa, n uint64 }{{0, 0x1000}, {0xfff, 1}, {0x10000, 0x2000}, {0x11fff, 1}, {0x500, 0}}
	for _, c := range ok {
		if s, err := m.Slice(c.gpa, c.n); err != nil || uint64(len(s)) != c.n {
			t.Errorf("Slice(%#x, %#x) = %d bytes, %v", c.gpa, c.n, len(s), err)
		}
	}
	bad := []struct{ gpa, n uint64 }{
		{0xfff, 2},                // runs off the end of a region
		{0x1000, 1},               // in the gap
		{0xff00, 0x200},           // starts in the gap, ends in RAM
		{0x10000, 0x2001},         // one byte too long
		{0x11fff, math.MaxUint64}, // length that wraps
		{math.MaxUint64, 1},       // address at the very top
	}
	for _, c := range bad {
		if _, err := m.Slice(c.gpa, c.n); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("Slice(%#x, %#x) = %v, want ErrOutOfRange", c.gpa, c.n, err)
		}
	}
	// A slice cannot be grown past what was asked for.
	s, _ := m.Slice(0, 4)
	if cap(s) != 4 {
		t.Errorf("slice capacity %d lets a caller reach past its range", cap(s))
	}
}

func TestAccessors(t *testing.T) {
	m, err := New(Region{GPA: 0x1000, Host: make([]byte, 64)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.PutU64(0x1008, 0x1122334455667788); err != nil {
		t.Fatal(err)
	}
	if v, _ := m.U32(0x1008); v != 0x55667788 {
		t.Errorf("U32 = %#x", v)
	}
	if v, _ := m.U16(0x100e); v != 0x1122 {
		t.Errorf("U16 = %#x", v)
	}
	if err := m.PutU32(0x103e, 1); err == nil {
		t.Error("4-byte write at the last 2 bytes accepted")
	}
	if err := m.Write(0x1000, make([]byte, 65)); err == nil {
		t.Error("write past the end accepted")
	}
}

func TestOverlapRefused(t *testing.T) {
	if _, err := New(Region{GPA: 0, Host: make([]byte, 0x2000)}, Region{GPA: 0x1000, Host: make([]byte, 16)}); err == nil {
		t.Fatal("overlapping regions accepted")
	}
}

func TestAllocate(t *testing.T) {
	m, err := Allocate(Range{GPA: 0, Size: 1 << 20}, Range{GPA: 1 << 32, Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.PutU64(1<<32+8, 42); err != nil {
		t.Fatal(err)
	}
	if _, err := Allocate(Range{GPA: 0x100, Size: 4096}); err == nil {
		t.Fatal("unaligned range accepted")
	}
}
