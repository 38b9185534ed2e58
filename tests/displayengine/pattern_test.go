package displayengine

import (
	"encoding/binary"
	"image"
	"strings"
	"testing"
)

// drawXRGB renders the pattern into XRGB8888 memory with the given stride, as a guest would.
func drawXRGB(w, h, stride int) []byte {
	mem := make([]byte, stride*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			binary.LittleEndian.PutUint32(mem[y*stride+4*x:], PatternPixel(x, y, w, h))
		}
	}
	return mem
}

// toRGBA reads XRGB8888 memory as a screen of w x h with the given stride; swapRB reads it in the wrong order.
func toRGBA(mem []byte, w, h, stride int, swapRB bool) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := XRGB(binary.LittleEndian.Uint32(mem[y*stride+4*x:]))
			if swapRB {
				c.R, c.B = c.B, c.R
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// The pattern check must catch the mistakes it exists for: colour order, stride, an offset, a wrong size.
func TestComparePatternCatchesMistakes(t *testing.T) {
	const w, h = 333, 201
	good := drawXRGB(w, h, 4*w)
	if err := ComparePattern(toRGBA(good, w, h, 4*w, false), w, h); err != nil {
		t.Fatalf("the pattern itself does not match: %v", err)
	}
	// The bars cover the screen in order and each has the width a division by 8 gives.
	for x := 0; x < w; x++ {
		if got, want := PatternPixel(x, h/2, w, h), PatternBars[min(7, x*8/w)]; x > 0 && x < w-1 && got != want {
			t.Fatalf("pixel %d of the middle line is %#x, want bar colour %#x", x, got, want)
		}
	}

	cases := map[string]struct {
		img  image.Image
		want string
	}{
		"red and blue swapped": {toRGBA(good, w, h, 4*w, true), "pixel (0,0)"},
		"drawn with a wider stride than read": {func() image.Image {
			mem := drawXRGB(w, h, 4*w+64)
			return toRGBA(mem, w, h, 4*w, false)
		}(), "pixel ("},
		"shifted by one pixel": {toRGBA(append([]byte{0, 0, 0, 0}, good...)[:len(good)], w, h, 4*w, false), "pixel (0,0)"},
		"wrong size":           {toRGBA(good, w-1, h, 4*w, false), "bounds"},
	}
	for name, c := range cases {
		err := ComparePattern(c.img, w, h)
		if err == nil {
			t.Errorf("%s: not caught", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", name, err, c.want)
		}
	}
}
