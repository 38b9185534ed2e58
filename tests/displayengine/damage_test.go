package displayengine

import (
	"encoding/binary"
	"fmt"
	"image"
	"math/bits"
	"testing"
	"time"

	"paddock/display"
)

// pokeOf is where the fbpoke guest inverts a pixel for a key's make code: x = 10*code, y = 5*code.
func pokeOf(tb testing.TB, k display.Key) image.Point {
	tb.Helper()
	codes, err := display.Set1(k, true)
	if err != nil || len(codes) != 1 {
		tb.Fatalf("key %d: want a one-byte make code, got % x (%v)", k, codes, err)
	}
	return image.Pt(10*int(codes[0]), 5*int(codes[0]))
}

// press types one key (down and up) and waits until the guest says it poked its pixel.
func (v *vm) press(tb testing.TB, k display.Key, at image.Point) {
	tb.Helper()
	line := fmt.Sprintf("POKE %d %d", at.X, at.Y)
	seen := countLines(v.serial.String(), line)
	if err := v.TypeKeys(display.ComboEvents([]display.Key{k})); err != nil {
		tb.Fatalf("TypeKeys: %v\n%s", err, v.describe())
	}
	v.waitForCount(tb, line, seen+1)
}

// dirtyPages reads and clears the framebuffer's dirty log, and lists the dirty pages.
func (v *vm) dirtyPages(tb testing.TB, bitmap []uint64) []int {
	tb.Helper()
	if err := v.DirtyPages(bitmap); err != nil {
		tb.Fatalf("DirtyPages: %v", err)
	}
	var pages []int
	for w, word := range bitmap {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &^= 1 << b
			pages = append(pages, w*64+b)
		}
	}
	return pages
}

func pixelAt(fb *display.Framebuffer, p image.Point) uint32 {
	off := p.Y*fb.Mode().Stride + p.X*display.BytesPerPixel
	return binary.LittleEndian.Uint32(fb.Memory()[off:])
}

// One pixel written by the guest is one dirty page and one small damage rectangle around that pixel; a guest
// that draws nothing yields no dirty pages and no damage.
func TestOnePixelDamage(t *testing.T) {
	const w, h = 1024, 768
	v := boot(t, "fbpoke", w, h)
	v.waitFor(t, "KBD-READY")

	fb := v.Framebuffer()
	if mode := fb.Mode(); mode.Width != w || mode.Height != h || mode.Stride != 4*w {
		t.Fatalf("framebuffer mode %+v, want %dx%d stride %d", mode, w, h, 4*w)
	}
	if err := ComparePattern(fb.Snapshot(), w, h); err != nil {
		t.Fatalf("the framebuffer does not hold the guest's drawing: %v", err)
	}
	tracker := display.NewDamageTracker(fb)
	bitmap := make([]uint64, (tracker.Pages()+63)/64)
	v.dirtyPages(t, bitmap) // whatever the drawing left in the log
	if got, want := tracker.Update(tracker.All()), []image.Rectangle{image.Rect(0, 0, w, h)}; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("the first full update gave %v, want %v", got, want)
	}

	// Quiet: the guest only halts.
	for i := 0; i < 5; i++ {
		time.Sleep(100 * time.Millisecond)
		if pages := v.dirtyPages(t, bitmap); len(pages) != 0 {
			t.Fatalf("an idle guest left framebuffer pages %v dirty", pages)
		}
		if got := tracker.Update(bitmap); len(got) != 0 {
			t.Fatalf("no dirty pages, yet damage %v", got)
		}
	}

	// a, z, then a again: the last press puts the first pixel back, which is still a change on screen.
	for i, k := range []display.Key{30, 44, 30} {
		at := pokeOf(t, k)
		before := pixelAt(fb, at)
		v.press(t, k, at)
		if got := pixelAt(fb, at); got != before^0x00ffffff {
			t.Fatalf("press %d: pixel %v is %#08x, want %#08x (the guest's inversion of %#08x)", i, at, got, before^0x00ffffff, before)
		}
		pages := v.dirtyPages(t, bitmap)
		wantPage := (at.Y*4*w + at.X*4) / 4096
		if len(pages) != 1 || pages[0] != wantPage {
			t.Fatalf("press %d: dirty pages %v, want just page %d (pixel %v)", i, pages, wantPage, at)
		}
		rects := tracker.Update(bitmap)
		if len(rects) != 1 {
			t.Fatalf("press %d: damage %v, want one rectangle around %v", i, rects, at)
		}
		r := rects[0]
		if !at.In(r) || r.Dx()*r.Dy() >= 2000 || r.Dy() > 4096/(4*w) {
			t.Fatalf("press %d: damage %v for one pixel at %v: want a small rectangle (under 2000 pixels, at most %d lines) holding it",
				i, r, at, 4096/(4*w))
		}
		t.Logf("press %d: pixel %v, damage %v", i, at, r)
		// The break code pokes nothing.
		time.Sleep(50 * time.Millisecond)
		if pages := v.dirtyPages(t, bitmap); len(pages) != 0 {
			t.Fatalf("press %d: pages %v dirty after the poke was reported", i, pages)
		}
	}
}
