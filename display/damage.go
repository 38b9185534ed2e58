package display

import (
	"bytes"
	"encoding/binary"
	"image"
	"math/bits"
	"sort"
)

// DamageTracker turns "these pages were written" (KVM's dirty log of the framebuffer slot) into "these pixels
// changed". It keeps a shadow copy of the screen and compares only the dirty pages, so a guest that writes one
// pixel yields a rectangle around that pixel, and an idle guest costs nothing.
type DamageTracker struct {
	fb     *Framebuffer
	shadow []byte
}

// NewDamageTracker starts tracking with everything treated as changed on the first Update.
func NewDamageTracker(fb *Framebuffer) *DamageTracker {
	shadow := make([]byte, len(fb.Memory()))
	for i := range shadow {
		shadow[i] = ^fb.Memory()[i] // differs everywhere, so the first full update reports the whole screen
	}
	return &DamageTracker{fb: fb, shadow: shadow}
}

// Pages is how many dirty-log bits the framebuffer needs.
func (d *DamageTracker) Pages() int { return (len(d.shadow) + pageSize - 1) / pageSize }

// All reports every page dirty, for a first frame or after a mode change.
func (d *DamageTracker) All() []uint64 {
	n := d.Pages()
	bm := make([]uint64, (n+63)/64)
	for i := 0; i < n; i++ {
		bm[i/64] |= 1 << (i % 64)
	}
	return bm
}

// Update compares the pages marked in dirty (bit i = page i) with the shadow copy, brings the shadow up to date
// and returns the changed areas, merged where they touch.
func (d *DamageTracker) Update(dirty []uint64) []image.Rectangle {
	mode := d.fb.Mode()
	pix := d.fb.Memory()
	var boxes []image.Rectangle
	for w, word := range dirty {
		for word != 0 {
			bit := bits.TrailingZeros64(word)
			word &^= 1 << bit
			page := w*64 + bit
			start := page * pageSize
			if start >= len(pix) {
				break
			}
			end := min(start+pageSize, len(pix), mode.Stride*mode.Height)
			if r, ok := d.comparePage(pix, start, end, mode); ok {
				boxes = append(boxes, r)
			}
		}
	}
	return mergeRects(boxes)
}

// comparePage finds the bounding box of changed pixels in [start, end) and updates the shadow.
func (d *DamageTracker) comparePage(pix []byte, start, end int, mode Mode) (image.Rectangle, bool) {
	if start >= end || bytes.Equal(pix[start:end], d.shadow[start:end]) {
		return image.Rectangle{}, false
	}
	var box image.Rectangle
	found := false
	// Walk line by line inside the page, so only the changed span of each line is scanned pixel by pixel.
	for off := start; off < end; {
		y := off / mode.Stride
		lineEnd := min((y+1)*mode.Stride, end)
		lineStart := off
		off = lineEnd
		a, b := pix[lineStart:lineEnd], d.shadow[lineStart:lineEnd]
		if bytes.Equal(a, b) {
			continue
		}
		first, last := firstDiff(a, b), lastDiff(a, b)
		copy(b, a)
		x0 := (lineStart - y*mode.Stride + first) / BytesPerPixel
		x1 := (lineStart-y*mode.Stride+last)/BytesPerPixel + 1
		if x0 >= mode.Width {
			continue
		}
		r := image.Rect(x0, y, min(x1, mode.Width), y+1)
		if found {
			box = box.Union(r)
		} else {
			box, found = r, true
		}
	}
	return box, found
}

// firstDiff is the index of the first byte where a and b differ; they are known to differ.
func firstDiff(a, b []byte) int {
	i := 0
	for ; i+8 <= len(a); i += 8 {
		if binary.LittleEndian.Uint64(a[i:]) != binary.LittleEndian.Uint64(b[i:]) {
			break
		}
	}
	for ; i < len(a) && a[i] == b[i]; i++ {
	}
	return i
}

// lastDiff is the index of the last byte where a and b differ; they are known to differ.
func lastDiff(a, b []byte) int {
	i := len(a)
	for ; i >= 8; i -= 8 {
		if binary.LittleEndian.Uint64(a[i-8:]) != binary.LittleEndian.Uint64(b[i-8:]) {
			break
		}
	}
	for i--; i > 0 && a[i] == b[i]; i-- {
	}
	return i
}

// mergeRects merges rectangles that overlap or touch, so a drawing that spans many pages comes out as one area.
func mergeRects(rs []image.Rectangle) []image.Rectangle {
	if len(rs) < 2 {
		return rs
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Min.Y < rs[j].Min.Y })
	out := []image.Rectangle{rs[0]}
	for _, r := range rs[1:] {
		merged := false
		for i := range out {
			if out[i].Inset(-1).Overlaps(r) {
				out[i] = out[i].Union(r)
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, r)
		}
	}
	return out
}
