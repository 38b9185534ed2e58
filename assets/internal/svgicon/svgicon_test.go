package svgicon

import (
	"image/color"
	"strings"
	"testing"
)

const head = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">`

func mustParse(t *testing.T, body string) *Icon {
	t.Helper()
	icon, err := Parse([]byte(head + body + `</svg>`))
	if err != nil {
		t.Fatal(err)
	}
	return icon
}

func TestRenderFillsShapesWithCoverageAtEdges(t *testing.T) {
	// A red square over the left half, then a blue triangle over its top-left corner.
	icon := mustParse(t, `<title>t</title><rect x="0" y="0" width="5" height="10" fill="#ff0000"/>`+
		`<polygon points="0,0 4,0 0,4" fill="#0000ff"/>`)
	img := icon.Render(10)
	if got := img.NRGBAAt(3, 8); got != (color.NRGBA{R: 255, A: 255}) {
		t.Errorf("inside the square: %v, want opaque red", got)
	}
	if got := img.NRGBAAt(7, 5); got.A != 0 {
		t.Errorf("outside every shape: %v, want transparent", got)
	}
	if got := img.NRGBAAt(0, 0); got != (color.NRGBA{B: 255, A: 255}) {
		t.Errorf("inside the triangle, drawn on top: %v, want opaque blue", got)
	}
	// Pixel (3,0) is cut by the triangle's hypotenuse: part blue, the rest red, fully opaque.
	if got := img.NRGBAAt(3, 0); got.A != 255 || got.R == 0 || got.B == 0 {
		t.Errorf("on the triangle's edge: %v, want a red-blue mix", got)
	}

	// Scaled up, a half-covered pixel is half transparent.
	half := mustParse(t, `<rect x="0" y="0" width="5.5" height="10" fill="#00ff00"/>`).Render(10)
	if got := half.NRGBAAt(5, 5); got.G != 255 || got.A < 120 || got.A > 135 {
		t.Errorf("half-covered pixel: %v, want green at about half alpha", got)
	}
}

func TestRoundedCornersAndCircles(t *testing.T) {
	img := mustParse(t, `<rect x="0" y="0" width="10" height="10" rx="4" fill="#ffffff"/>`).Render(100)
	if a := img.NRGBAAt(2, 2).A; a != 0 {
		t.Errorf("corner of a rounded rect: alpha %d, want 0", a)
	}
	if a := img.NRGBAAt(50, 1).A; a != 255 {
		t.Errorf("middle of a rounded rect's top edge: alpha %d, want 255", a)
	}
	img = mustParse(t, `<circle cx="5" cy="5" r="3" fill="#ffffff"/>`).Render(100)
	if a, b := img.NRGBAAt(50, 50).A, img.NRGBAAt(25, 25).A; a != 255 || b != 0 {
		t.Errorf("circle: centre alpha %d, outside alpha %d; want 255 and 0", a, b)
	}
}

func TestParseRejectsWhatItCannotDraw(t *testing.T) {
	for _, doc := range []string{
		``,
		`<svg viewBox="0 0 10 10"><path d="M0 0h5v5z" fill="#000000"/></svg>`,
		`<svg viewBox="0 0 10 10"><rect width="5" height="5" fill="#000000" stroke="#ffffff"/></svg>`,
		`<svg viewBox="0 0 10 10"><rect width="5" height="5" fill="red"/></svg>`,
		`<svg viewBox="0 0 10 10"><rect width="5" height="5"/></svg>`,
		`<svg viewBox="0 0 10 10"><rect width="five" height="5" fill="#000000"/></svg>`,
		`<svg viewBox="0 0 10 10"><rect width="NaN" height="5" fill="#000000"/></svg>`,
		`<svg viewBox="0 0 10 10"><polygon points="0,0 1,1" fill="#000000"/></svg>`,
		`<svg viewBox="0 0 10 10"><g><rect width="5" height="5" fill="#000000"/></g></svg>`,
		`<svg viewBox="1 1 10 10"></svg>`,
		`<svg width="10" height="10"></svg>`,
		`<html viewBox="0 0 10 10"></html>`,
		`<svg viewBox="0 0 10 10"><rect width="5" height="5" fill="#000000">`,
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("Parse(%q) succeeded", doc)
		} else if !strings.HasPrefix(err.Error(), "svg: ") {
			t.Errorf("Parse(%q): error %q does not say it is about the SVG", doc, err)
		}
	}
}
