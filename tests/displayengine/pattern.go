// Package displayengine checks the guest screen and keyboard in-process, through paddock/engine/machine: the
// framebuffer's dirty-page log turned into damage rectangles, and what that costs. It also holds the test
// pattern the fbpattern and fbpoke guests (tests/guests) draw, so any test can compute the exact image.
package displayengine

import (
	"fmt"
	"image"
	"image/color"
)

// The pattern's colours as XRGB8888 words, exactly as the guests write them (common.inc: FB_BORDER, FB_BAND,
// fb_bar_colours). Every channel value differs between neighbours, so a red/blue swap or a byte shift shows.
const (
	PatternBorder   uint32 = 0x00ff8000
	PatternBand     uint32 = 0x00204080
	PatternBandRows        = 16
)

// PatternBars are the 8 vertical bars' colours, left to right.
var PatternBars = [8]uint32{0x00ff0000, 0x0000ff00, 0x000000ff, 0x00ffff00, 0x0000ffff, 0x00ff00ff, 0x00ffffff, 0x00804020}

// PatternPixel is the XRGB colour the guests draw at (x, y) on a width x height screen: a 1-pixel border, the
// top PatternBandRows rows inside it in PatternBand, and below them 8 bars, pixel x in bar x*8/width.
func PatternPixel(x, y, width, height int) uint32 {
	switch {
	case x == 0 || y == 0 || x == width-1 || y == height-1:
		return PatternBorder
	case y < PatternBandRows:
		return PatternBand
	default:
		return PatternBars[x*8/width]
	}
}

// XRGB converts an XRGB8888 word to an opaque colour.
func XRGB(v uint32) color.RGBA {
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}
}

// ComparePattern checks img pixel for pixel against the pattern for its size, which must be width x height. It
// returns nil, or an error naming the first mismatching pixel (in row order) and how many pixels differ.
func ComparePattern(img image.Image, width, height int) error {
	if b := img.Bounds(); b != image.Rect(0, 0, width, height) {
		return fmt.Errorf("image bounds %v, want %dx%d", b, width, height)
	}
	var first string
	bad := 0
	for y := 0; y < height; y++ {
		for x := 0; x < width; x++ {
			want := XRGB(PatternPixel(x, y, width, height))
			got := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			if got == want {
				continue
			}
			if bad == 0 {
				first = fmt.Sprintf("pixel (%d,%d) is %s, want %s", x, y, hexColour(got), hexColour(want))
			}
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%s; %d of %d pixels differ", first, bad, width*height)
	}
	return nil
}

func hexColour(c color.RGBA) string {
	return fmt.Sprintf("#%02x%02x%02x (alpha %02x)", c.R, c.G, c.B, c.A)
}
