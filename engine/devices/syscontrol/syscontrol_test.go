package syscontrol

import "testing"

func TestA20GateAndFastReset(t *testing.T) {
	resets := 0
	p := New(func() { resets++ })
	b := []byte{0}
	p.Read(0, b)
	if b[0]&bitA20 == 0 {
		t.Fatal("A20 reads disabled at power-on")
	}
	// SeaBIOS set_a20: read, change bit 1, write back.
	p.Write(0, []byte{b[0] &^ bitA20})
	p.Read(0, b)
	if b[0]&bitA20 != 0 || resets != 0 {
		t.Fatalf("A20 off: read %#x, %d resets", b[0], resets)
	}
	p.Write(0, []byte{b[0] | bitReset})
	if resets != 1 {
		t.Fatalf("fast reset: %d resets, want 1", resets)
	}
	p.Read(0, b)
	if b[0]&bitReset != 0 {
		t.Error("reset bit reads back set")
	}
}

func FuzzAccesses(f *testing.F) {
	f.Add([]byte{0x02, 0x03, 0x00, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := New(nil)
		for _, v := range data {
			p.Write(0, []byte{v})
			p.Read(0, []byte{0, 0})
		}
	})
}
