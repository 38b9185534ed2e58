// Package fakeconsole is a display.Console with no VM behind it: the caller draws into a real framebuffer, decides
// which pages count as dirty, and reads back the input the window sent. Tests and the demo use it.
package fakeconsole

import (
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"io"
	"sync"

	"paddock/display"
)

// Console records input and reports the dirty pages the caller marked.
type Console struct {
	fb *display.Framebuffer

	mu         sync.Mutex
	dirty      []uint64
	dirtyCalls int
	keys       []display.KeyEvent
	pointers   []display.PointerState
	log        io.Writer
}

// New makes a console over a fresh framebuffer of width x height pixels.
func New(width, height int) (*Console, error) {
	mode, err := display.NewMode(width, height)
	if err != nil {
		return nil, err
	}
	fb, err := display.NewFramebuffer(mode)
	if err != nil {
		return nil, err
	}
	pages := mode.Size() / 4096
	return &Console{fb: fb, dirty: make([]uint64, (pages+63)/64)}, nil
}

// SetLog makes every input event also appear as a line on w ("key 30 down", "pointer 10 20 1 0").
func (c *Console) SetLog(w io.Writer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = w
}

// Close releases the framebuffer.
func (c *Console) Close() error { return c.fb.Close() }

// Framebuffer implements display.Console.
func (c *Console) Framebuffer() *display.Framebuffer { return c.fb }

// DirtyPages implements display.Console: it hands out and clears the pages marked since the last call.
func (c *Console) DirtyPages(bitmap []uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dirtyCalls++
	for i := range bitmap {
		if i < len(c.dirty) {
			bitmap[i] |= c.dirty[i]
			c.dirty[i] = 0
		}
	}
	return nil
}

// DirtyCalls is how many times DirtyPages was called.
func (c *Console) DirtyCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dirtyCalls
}

// Key implements display.Console.
func (c *Console) Key(k display.Key, down bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys = append(c.keys, display.KeyEvent{Key: k, Down: down})
	if c.log != nil {
		state := "up"
		if down {
			state = "down"
		}
		fmt.Fprintf(c.log, "key %d %s\n", k, state)
	}
	return nil
}

// Pointer implements display.Console.
func (c *Console) Pointer(p display.PointerState) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pointers = append(c.pointers, p)
	if c.log != nil {
		fmt.Fprintf(c.log, "pointer %d %d %d %d\n", p.X, p.Y, p.Buttons, p.Wheel)
	}
	return nil
}

// Keys returns the key events received so far.
func (c *Console) Keys() []display.KeyEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]display.KeyEvent(nil), c.keys...)
}

// Pointers returns the pointer events received so far.
func (c *Console) Pointers() []display.PointerState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]display.PointerState(nil), c.pointers...)
}

// Fill paints r (clipped to the screen) with col and marks the pages it touched dirty, as a guest write would.
func (c *Console) Fill(r image.Rectangle, col color.RGBA) {
	mode := c.fb.Mode()
	r = r.Intersect(image.Rect(0, 0, mode.Width, mode.Height))
	if r.Empty() {
		return
	}
	v := uint32(col.R)<<16 | uint32(col.G)<<8 | uint32(col.B)
	pix := c.fb.Memory()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			binary.LittleEndian.PutUint32(pix[y*mode.Stride+x*display.BytesPerPixel:], v)
		}
	}
	c.MarkDirty(r)
}

// MarkDirty marks the pages holding the lines of r dirty.
func (c *Console) MarkDirty(r image.Rectangle) {
	mode := c.fb.Mode()
	first := (r.Min.Y*mode.Stride + r.Min.X*display.BytesPerPixel) / 4096
	last := ((r.Max.Y-1)*mode.Stride + r.Max.X*display.BytesPerPixel - 1) / 4096
	c.mu.Lock()
	defer c.mu.Unlock()
	for p := first; p <= last && p/64 < len(c.dirty); p++ {
		c.dirty[p/64] |= 1 << (p % 64)
	}
}

// Pattern colours: one per quadrant of the test pattern.
var (
	Red    = color.RGBA{0xff, 0x00, 0x00, 0xff}
	Green  = color.RGBA{0x00, 0xff, 0x00, 0xff}
	Blue   = color.RGBA{0x00, 0x00, 0xff, 0xff}
	Yellow = color.RGBA{0xff, 0xff, 0x00, 0xff}
	Black  = color.RGBA{0x00, 0x00, 0x00, 0xff}
	White  = color.RGBA{0xff, 0xff, 0xff, 0xff}
)

// CheckerRect is where DrawPattern puts a one-pixel black and white checkerboard (white at its top-left), inside
// the red quadrant: it shows whether scaling keeps pixels sharp.
var CheckerRect = image.Rect(16, 16, 48, 48)

// DrawPattern fills the screen with four coloured quadrants (red, green / blue, yellow) and the checkerboard.
func (c *Console) DrawPattern() {
	mode := c.fb.Mode()
	w, h := mode.Width, mode.Height
	c.Fill(image.Rect(0, 0, w/2, h/2), Red)
	c.Fill(image.Rect(w/2, 0, w, h/2), Green)
	c.Fill(image.Rect(0, h/2, w/2, h), Blue)
	c.Fill(image.Rect(w/2, h/2, w, h), Yellow)
	for y := CheckerRect.Min.Y; y < CheckerRect.Max.Y; y++ {
		for x := CheckerRect.Min.X; x < CheckerRect.Max.X; x++ {
			col := Black
			if (x+y)%2 == 0 {
				col = White
			}
			c.Fill(image.Rect(x, y, x+1, y+1), col)
		}
	}
}
