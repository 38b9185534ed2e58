package sink

import (
	"testing"

	"paddock/engine/bus"
)

func TestSinkSwallowsWritesAndRemembersLast(t *testing.T) {
	var ports bus.Bus
	s := New(0xff)
	if err := ports.Register(0x80, 1, s); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Last(); ok {
		t.Fatal("Last reports a write before any")
	}
	if !ports.Write(0x80, []byte{0x42}) || !ports.Write(0x80, []byte{0x17}) {
		t.Fatal("port 0x80 not claimed")
	}
	if v, ok := s.Last(); !ok || v != 0x17 {
		t.Errorf("Last = %#x, %v; want 0x17", v, ok)
	}
	b := []byte{0}
	ports.Read(0x80, b)
	if b[0] != 0xff {
		t.Errorf("read %#x, want the fill byte", b[0])
	}
}

func FuzzAccesses(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := New(0)
		s.Write(0, data)
		s.Read(0, data)
		for _, b := range data {
			if b != 0 {
				t.Fatal("read did not fill")
			}
		}
	})
}
