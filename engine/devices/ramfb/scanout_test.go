package ramfb

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"sync"
	"testing"
	"time"
)

// screen is a host screen of w x h pixels whose memory is whole pages, like the display's memfd.
func screen(w, h int) Target {
	n := (w*h*4 + pageSize - 1) &^ (pageSize - 1)
	return Target{Pix: make([]byte, n), Width: w, Height: h, Stride: w * 4}
}

// pixel is the XRGB value the test guest draws at x, y.
func pixel(x, y int) uint32 { return uint32(x*7+y*13)&0xffffff | 0x1000000*uint32(x&1) }

// draw fills the guest framebuffer at fbAddr with the test pattern.
func draw(ram []byte, w, h, stride int) {
	for y := range h {
		for x := range w {
			binary.LittleEndian.PutUint32(ram[fbAddr+y*stride+x*4:], pixel(x, y))
		}
	}
}

func at(t Target, x, y int) uint32 { return binary.LittleEndian.Uint32(t.Pix[y*t.Stride+x*4:]) }

func dirtyPages(s *Scanout, n int) []int {
	bm := make([]uint64, (n+63)/64)
	s.TakeDirty(bm)
	var pages []int
	for i, w := range bm {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			w &^= 1 << b
			pages = append(pages, i*64+b)
		}
	}
	return pages
}

func newScanout(t *testing.T, w, h, stride int, dst Target) ([]byte, *Scanout) {
	t.Helper()
	ram, mem := newRAM(t)
	dev := New(mem, quiet)
	draw(ram, w, h, stride)
	if err := dev.Configure(config(fbAddr, FourCCXRGB8888, uint32(w), uint32(h), uint32(stride))); err != nil {
		t.Fatal(err)
	}
	s, err := NewScanout(dev, dst)
	if err != nil {
		t.Fatal(err)
	}
	return ram, s
}

// The guest's picture reaches the screen pixel for pixel; an unchanged picture reports no damage; one changed
// pixel reports the one page that holds it.
func TestScanoutCopiesAndReportsDamage(t *testing.T) {
	dst := screen(1024, 768)
	ram, s := newScanout(t, 1024, 768, 4096, dst)
	pages := len(dst.Pix) / pageSize
	s.Frame()
	for _, p := range [][2]int{{0, 0}, {1023, 0}, {0, 767}, {1023, 767}, {517, 301}} {
		if got, want := at(dst, p[0], p[1]), pixel(p[0], p[1]); got != want {
			t.Errorf("pixel %v is %#x on screen, the guest drew %#x", p, got, want)
		}
	}
	if got := dirtyPages(s, pages); len(got) != pages {
		t.Errorf("first frame reports %d dirty pages, want all %d", len(got), pages)
	}

	s.Frame()
	if got := dirtyPages(s, pages); len(got) != 0 {
		t.Errorf("an unchanged picture reports pages %v dirty", got)
	}

	binary.LittleEndian.PutUint32(ram[fbAddr+300*4096+10*4:], 0x00ff00)
	s.Frame()
	if got := at(dst, 10, 300); got != 0x00ff00 {
		t.Errorf("the changed pixel shows %#x, want 0x00ff00", got)
	}
	if got := dirtyPages(s, pages); len(got) != 1 || got[0] != 300*1024*4/pageSize {
		t.Errorf("one changed pixel on line 300 reports pages %v, want [%d]", got, 300*1024*4/pageSize)
	}
	if got := dirtyPages(s, pages); len(got) != 0 {
		t.Errorf("TakeDirty did not forget: pages %v again", got)
	}
}

// A picture larger than the screen is clipped to it; a smaller one sits at the top left with black around it,
// whatever the screen held before; the bytes between a guest line's end and its stride are not shown.
func TestScanoutClipsAndPads(t *testing.T) {
	t.Run("larger", func(t *testing.T) {
		dst := screen(800, 600)
		_, s := newScanout(t, 1024, 768, 4096, dst)
		s.Frame()
		for _, p := range [][2]int{{0, 0}, {799, 0}, {0, 599}, {799, 599}} {
			if got, want := at(dst, p[0], p[1]), pixel(p[0], p[1]); got != want {
				t.Errorf("pixel %v is %#x, want %#x", p, got, want)
			}
		}
	})
	t.Run("smaller", func(t *testing.T) {
		dst := screen(1024, 768)
		for i := range dst.Pix {
			dst.Pix[i] = 0xAA
		}
		ram, s := newScanout(t, 640, 480, 640*4+64, dst)
		for y := range 480 { // junk in each line's padding
			copy(ram[fbAddr+y*(640*4+64)+640*4:], bytes.Repeat([]byte{0x77}, 64))
		}
		s.Frame()
		for y := range 768 {
			for x := range 1024 {
				want := uint32(0)
				if x < 640 && y < 480 {
					want = pixel(x, y)
				}
				if got := at(dst, x, y); got != want {
					t.Fatalf("pixel %d,%d is %#x, want %#x", x, y, got, want)
				}
			}
		}
	})
}

// A new configuration redraws everything from black: nothing of the old, larger picture stays; turning the display
// off leaves the screen black.
func TestScanoutModeChangeAndOff(t *testing.T) {
	dst := screen(1024, 768)
	ram, s := newScanout(t, 1024, 768, 4096, dst)
	s.Frame()
	dirtyPages(s, len(dst.Pix)/pageSize)
	clear(ram[fbAddr : fbAddr+320*4*200])
	draw(ram, 320, 200, 1280)
	if err := s.dev.Configure(config(fbAddr, FourCCXRGB8888, 320, 200, 1280)); err != nil {
		t.Fatal(err)
	}
	s.Frame()
	if got := at(dst, 700, 700); got != 0 {
		t.Errorf("the old picture stays outside the new mode: %#x at 700,700", got)
	}
	if got, want := at(dst, 319, 199), pixel(319, 199); got != want {
		t.Errorf("new mode's pixel 319,199 is %#x, want %#x", got, want)
	}
	if got := dirtyPages(s, len(dst.Pix)/pageSize); len(got) != len(dst.Pix)/pageSize {
		t.Errorf("a mode change reports %d pages, want all", len(got))
	}
	if err := s.dev.Configure(make([]byte, 28)); err != nil {
		t.Fatal(err)
	}
	s.Frame()
	if !bytes.Equal(dst.Pix, make([]byte, len(dst.Pix))) {
		t.Error("the screen is not black with the display off")
	}
}

// Blank clears the screen and reports all of it.
func TestScanoutBlank(t *testing.T) {
	dst := screen(320, 200)
	_, s := newScanout(t, 320, 200, 1280, dst)
	s.Frame()
	dirtyPages(s, len(dst.Pix)/pageSize)
	s.Blank()
	if !bytes.Equal(dst.Pix, make([]byte, len(dst.Pix))) {
		t.Error("Blank left pixels")
	}
	if got := dirtyPages(s, len(dst.Pix)/pageSize); len(got) != len(dst.Pix)/pageSize {
		t.Errorf("Blank reports %d pages, want all", len(got))
	}
}

func TestScanoutRefusesInconsistentScreen(t *testing.T) {
	_, mem := newRAM(t)
	dev := New(mem, quiet)
	for _, dst := range []Target{
		{Pix: make([]byte, 100), Width: 320, Height: 200, Stride: 1280},
		{Pix: make([]byte, 1280*200), Width: 320, Height: 200, Stride: 1000},
		{Pix: nil, Width: 0, Height: 0},
	} {
		if _, err := NewScanout(dev, dst); err == nil {
			t.Errorf("screen %dx%d stride %d over %d bytes accepted", dst.Width, dst.Height, dst.Stride, len(dst.Pix))
		}
	}
}

// Run draws the guest's changes by itself and returns once stopped.
func TestScanoutRunAndStop(t *testing.T) {
	dst := screen(320, 200)
	ram, s := newScanout(t, 320, 200, 1280, dst)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { s.Run(stop, time.Millisecond); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock() // the test reads the screen as a viewer would, between frames
		got := at(dst, 5, 5)
		s.mu.Unlock()
		if got == pixel(5, 5) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run drew nothing within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	_ = ram
	close(stop)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after stop")
	}
}

// vCPUs configure while the scanout draws and viewers take damage: no race, no crash (run with -race).
func TestConcurrentConfigureAndScanout(t *testing.T) {
	dst := screen(640, 480)
	_, s := newScanout(t, 640, 480, 2560, dst)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				switch (i + j) % 3 {
				case 0:
					_ = s.dev.Configure(config(fbAddr, FourCCXRGB8888, uint32(100+j), 480, 0))
				case 1:
					_ = s.dev.Configure(config(testRAM, FourCCXRGB8888, 640, 480, 0))
				default:
					s.Frame()
					s.TakeDirty(make([]uint64, 2))
				}
			}
		}()
	}
	wg.Wait()
}

// An unchanged 1024x768 picture: the cost of one idle frame.
func BenchmarkUnchangedFrame(b *testing.B) {
	ram, mem := newRAM(b)
	dev := New(mem, quiet)
	draw(ram, 1024, 768, 4096)
	if err := dev.Configure(config(fbAddr, FourCCXRGB8888, 1024, 768, 4096)); err != nil {
		b.Fatal(err)
	}
	s, err := NewScanout(dev, screen(1024, 768))
	if err != nil {
		b.Fatal(err)
	}
	s.Frame()
	b.ResetTimer()
	for range b.N {
		s.Frame()
	}
}
