package ramfb

import (
	"bytes"
	"fmt"
	"sync"
	"time"
)

const pageSize = 4096

// Target is the host screen a Scanout draws on: Height lines of Width XRGB8888 pixels, Stride bytes apart, in Pix
// (the display's shared framebuffer).
type Target struct {
	Pix           []byte
	Width, Height int
	Stride        int
}

// Scanout copies the guest's ramfb framebuffer onto a host screen and records which of the screen's pages changed,
// as KVM's dirty log does for a framebuffer the guest writes directly. The guest's picture is drawn from the top
// left, clipped to the screen, the rest of the screen black. A line is copied only when it differs from what the
// screen shows, so an unchanged picture costs one comparison per frame and reports nothing.
type Scanout struct {
	dev *Device
	dst Target

	mu     sync.Mutex
	dirty  []uint64 // bit i: page i of dst.Pix changed since TakeDirty
	gen    uint64   // the device configuration last drawn
	warned bool
}

// NewScanout returns a scanout of dev's framebuffer onto dst.
func NewScanout(dev *Device, dst Target) (*Scanout, error) {
	if dst.Width <= 0 || dst.Height <= 0 || dst.Stride < dst.Width*BytesPerPixel || len(dst.Pix) < dst.Stride*dst.Height {
		return nil, fmt.Errorf("ramfb scanout: screen %dx%d stride %d over %d bytes is inconsistent",
			dst.Width, dst.Height, dst.Stride, len(dst.Pix))
	}
	pages := (len(dst.Pix) + pageSize - 1) / pageSize
	return &Scanout{dev: dev, dst: dst, dirty: make([]uint64, (pages+63)/64)}, nil
}

// Blank clears the screen, as a PC's is at power-on before the firmware draws.
func (s *Scanout) Blank() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.dst.Pix)
	s.markAll()
}

// Frame brings the screen up to date with the guest's framebuffer once.
func (s *Scanout) Frame() {
	fb, gen, on := s.dev.Current()
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen {
		// A new mode (or none): start from black, so nothing of the old picture stays around a smaller one.
		s.gen = gen
		clear(s.dst.Pix)
		s.markAll()
	}
	if !on {
		return
	}
	src, err := s.dev.mem.Slice(fb.Addr, fb.Size())
	if err != nil {
		// Check saw this range in guest RAM; the memory map does not change within a boot, so this is a bug.
		if !s.warned {
			s.warned = true
			s.dev.log.Warn("ramfb: the framebuffer is no longer in guest RAM; not drawn", "err", err)
		}
		return
	}
	lineBytes := min(fb.Width, s.dst.Width) * BytesPerPixel
	for y := range min(fb.Height, s.dst.Height) {
		from := src[y*fb.Stride : y*fb.Stride+lineBytes]
		at := y * s.dst.Stride
		to := s.dst.Pix[at : at+lineBytes]
		if bytes.Equal(from, to) {
			continue
		}
		copy(to, from)
		s.mark(at, at+lineBytes)
	}
}

// Run draws a frame every interval until stop is closed.
func (s *Scanout) Run(stop <-chan struct{}, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.Frame()
		}
	}
}

// TakeDirty sets in bitmap (bit i for page i of the screen's memory) the pages changed since the last call, and
// forgets them.
func (s *Scanout) TakeDirty(bitmap []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range min(len(bitmap), len(s.dirty)) {
		bitmap[i] |= s.dirty[i]
	}
	clear(s.dirty)
}

// mark records the pages under dst.Pix[start:end]. The caller holds s.mu.
func (s *Scanout) mark(start, end int) {
	for p := start / pageSize; p <= (end-1)/pageSize; p++ {
		s.dirty[p/64] |= 1 << (p % 64)
	}
}

// markAll records every page of the screen. The caller holds s.mu.
func (s *Scanout) markAll() {
	if len(s.dst.Pix) > 0 {
		s.mark(0, len(s.dst.Pix))
	}
}
