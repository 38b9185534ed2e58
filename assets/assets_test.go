package assets

import (
	"bytes"
	"encoding/xml"
	"image"
	"image/png"
	"testing"

	"paddock/assets/internal/svgicon"
)

func TestIconPNGsDecodeAtTheirSizes(t *testing.T) {
	for _, size := range IconSizes() {
		data, err := IconPNG(size)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%d px: %v", size, err)
		}
		if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
			t.Errorf("%d px icon is %dx%d", size, b.Dx(), b.Dy())
		}
		// The corners are transparent (rounded), the middle opaque.
		if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
			t.Errorf("%d px: corner alpha %d, want transparent", size, a)
		}
		if _, _, _, a := img.At(size/2, size/2).RGBA(); a != 0xffff {
			t.Errorf("%d px: centre alpha %d, want opaque", size, a)
		}
	}
	if _, err := IconPNG(100); err == nil {
		t.Error("IconPNG(100) succeeded; there is no such size")
	}
}

func TestIconSVGIsXML(t *testing.T) {
	var doc struct {
		XMLName xml.Name
		ViewBox string `xml:"viewBox,attr"`
	}
	if err := xml.Unmarshal(IconSVG(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.XMLName.Space != "http://www.w3.org/2000/svg" || doc.XMLName.Local != "svg" {
		t.Errorf("root element %v, want svg in the SVG namespace", doc.XMLName)
	}
	if doc.ViewBox != "0 0 256 256" {
		t.Errorf("viewBox %q, want 0 0 256 256", doc.ViewBox)
	}
}

// The PNGs must be renderings of the SVG as it is now: this fails when one changed without `go generate`.
func TestIconPNGsAreRenderingsOfTheSVG(t *testing.T) {
	icon, err := svgicon.Parse(IconSVG())
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range IconSizes() {
		data, _ := IconPNG(size)
		got, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		want := icon.Render(size)
		if d := maxDiff(got, want); d > 2 {
			t.Errorf("%d px PNG differs from the SVG's rendering by up to %d per channel: run go generate ./assets", size, d)
		}
	}
}

func maxDiff(a image.Image, b *image.NRGBA) int {
	worst := 0
	for y := b.Rect.Min.Y; y < b.Rect.Max.Y; y++ {
		for x := b.Rect.Min.X; x < b.Rect.Max.X; x++ {
			ar, ag, ab, aa := a.At(x, y).RGBA()
			br, bg, bb, ba := b.At(x, y).RGBA()
			for _, d := range []int{int(ar>>8) - int(br>>8), int(ag>>8) - int(bg>>8), int(ab>>8) - int(bb>>8), int(aa>>8) - int(ba>>8)} {
				worst = max(worst, d, -d)
			}
		}
	}
	return worst
}

func TestIconResource(t *testing.T) {
	r := Icon()
	if r.Name() == "" || !bytes.Equal(r.Content(), mustPNG(t, 256)) {
		t.Errorf("Icon() is %q with %d bytes, want the 256 px PNG", r.Name(), len(r.Content()))
	}
	// Callers get copies: changing one does not change the icon.
	IconSVG()[0] = 'x'
	if IconSVG()[0] != '<' {
		t.Error("IconSVG returned the embedded bytes themselves")
	}
}

func mustPNG(t *testing.T, size int) []byte {
	t.Helper()
	data, err := IconPNG(size)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
