package bytering

import "testing"

func TestFIFOAndBounds(t *testing.T) {
	r := New(3)
	for _, b := range []byte{1, 2, 3} {
		if !r.Push(b) {
			t.Fatalf("push %d refused", b)
		}
	}
	if r.Push(4) || r.Free() != 0 || r.Len() != 3 {
		t.Fatalf("full ring accepted more: len %d free %d", r.Len(), r.Free())
	}
	if b, _ := r.Pop(); b != 1 {
		t.Fatalf("pop = %d, want 1", b)
	}
	r.Push(5) // wraps around the end of the buffer
	for _, want := range []byte{2, 3, 5} {
		if b, ok := r.Pop(); !ok || b != want {
			t.Fatalf("pop = %d %v, want %d", b, ok, want)
		}
	}
	if _, ok := r.Pop(); ok {
		t.Fatal("pop from an empty ring")
	}
	r.Push(9)
	r.Clear()
	if r.Len() != 0 || r.Free() != 3 {
		t.Fatal("clear left bytes")
	}
}
