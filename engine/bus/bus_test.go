package bus

import (
	"bytes"
	"testing"
)

type recorder struct {
	reads, writes []uint64
	fill          byte
}

func (r *recorder) Read(off uint64, data []byte) {
	r.reads = append(r.reads, off)
	for i := range data {
		data[i] = r.fill
	}
}
func (r *recorder) Write(off uint64, data []byte) { r.writes = append(r.writes, off) }

func TestDispatchAndOffsets(t *testing.T) {
	var b Bus
	a, c := &recorder{fill: 0xaa}, &recorder{fill: 0xcc}
	if err := b.Register(0x3f8, 8, a); err != nil {
		t.Fatal(err)
	}
	if err := b.Register(0x60, 1, c); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1)
	if !b.Read(0x3fd, data) || data[0] != 0xaa || a.reads[0] != 5 {
		t.Fatalf("read COM1+5: %x, offsets %v", data, a.reads)
	}
	if !b.Write(0x60, data) || c.writes[0] != 0 {
		t.Fatalf("write 0x60: %v", c.writes)
	}
	// An access that straddles the end of a range belongs to nobody.
	wide := make([]byte, 4)
	if b.Read(0x3fe, wide) || !bytes.Equal(wide, []byte{0xff, 0xff, 0xff, 0xff}) {
		t.Fatalf("straddling read = %x, want all ones and unclaimed", wide)
	}
	if b.Write(0x61, data) {
		t.Fatal("write to an unclaimed port was claimed")
	}
}

func TestRegisterRefusesOverlapAndWrap(t *testing.T) {
	var b Bus
	if err := b.Register(0x100, 0x10, &recorder{}); err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]uint64{{0xf8, 0x10}, {0x10f, 1}, {0x100, 1}, {0xf0, 0x100}} {
		if err := b.Register(r[0], r[1], &recorder{}); err == nil {
			t.Errorf("range %#x+%#x overlapping 0x100+0x10 accepted", r[0], r[1])
		}
	}
	if err := b.Register(^uint64(0)-1, 4, &recorder{}); err == nil {
		t.Error("wrapping range accepted")
	}
	if err := b.Register(0x110, 0x10, &recorder{}); err != nil {
		t.Errorf("adjacent range refused: %v", err)
	}
	b.Unregister(0x100)
	if err := b.Register(0x100, 0x10, &recorder{}); err != nil {
		t.Errorf("re-register after Unregister: %v", err)
	}
}
