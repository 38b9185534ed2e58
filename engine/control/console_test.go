package control

import (
	"encoding/binary"
	"encoding/json"
	"image/color"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"paddock/display"
)

// fakeVM serves the display operations the way the machine does, over a real framebuffer memfd.
type fakeVM struct {
	fb   *display.Framebuffer
	mu   sync.Mutex
	keys []KeyArgs
	ptr  []PointerState
}

func (v *fakeVM) Handle(op string, args json.RawMessage) (any, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch op {
	case OpFramebuffer:
		m := v.fb.Mode()
		return WithFDs{Result: FramebufferInfo{m.Width, m.Height, m.Stride}, FDs: []int{v.fb.Fd()}}, nil
	case OpDirtyPages:
		return DirtyPages{Bitmap: []uint64{0b101}}, nil
	case OpKey:
		var k KeyArgs
		json.Unmarshal(args, &k)
		v.keys = append(v.keys, k)
		return nil, nil
	case OpPointerState:
		var p PointerState
		json.Unmarshal(args, &p)
		v.ptr = append(v.ptr, p)
		return nil, nil
	}
	return nil, ErrUnknownOp
}

func TestConsoleOverSocket(t *testing.T) {
	mode, _ := display.NewMode(640, 480)
	fb, err := display.NewFramebuffer(mode)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	vm := &fakeVM{fb: fb}
	path := filepath.Join(t.TempDir(), "vm.sock")
	srv, err := Listen(path, vm, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	c, err := OpenConsole(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Framebuffer().Mode(); got != mode {
		t.Fatalf("mode %+v, want %+v", got, mode)
	}
	// The viewer sees the VM's pixels through the shared memory, with no copy over the socket.
	binary.LittleEndian.PutUint32(fb.Memory()[100*mode.Stride+200*4:], 0x00112233)
	if got := c.Framebuffer().Snapshot().RGBAAt(200, 100); got != (color.RGBA{0x11, 0x22, 0x33, 0xff}) {
		t.Fatalf("viewer sees %v", got)
	}
	bm := []uint64{0, 99}
	if err := c.DirtyPages(bm); err != nil || bm[0] != 0b101 || bm[1] != 0 {
		t.Fatalf("dirty pages %v, %v", bm, err)
	}
	if err := c.Key(display.KeyEnter, true); err != nil {
		t.Fatal(err)
	}
	if err := c.Pointer(display.PointerState{X: 3, Y: 4, Buttons: display.ButtonRight, Wheel: -1}); err != nil {
		t.Fatal(err)
	}
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if len(vm.keys) != 1 || vm.keys[0] != (KeyArgs{Key: uint16(display.KeyEnter), Down: true}) {
		t.Errorf("keys %v", vm.keys)
	}
	if len(vm.ptr) != 1 || vm.ptr[0] != (PointerState{X: 3, Y: 4, Buttons: 2, Wheel: -1}) {
		t.Errorf("pointer %v", vm.ptr)
	}
}
