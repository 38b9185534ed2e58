// Package svgicon reads the small subset of SVG that Paddock's icon is drawn in (filled rect, circle and polygon
// shapes in a viewBox) and renders it to bitmaps of any size, so the PNG icons are made from the SVG itself.
// Anything outside that subset is an error rather than something silently drawn differently.
package svgicon

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"strconv"
	"strings"
)

// Icon is a parsed drawing: its viewBox size and its shapes, bottom first.
type Icon struct {
	Width, Height float64
	shapes        []shape
}

type shape interface {
	contains(x, y float64) bool
	fill() color.NRGBA
}

type rect struct {
	x, y, w, h, rx, ry float64
	c                  color.NRGBA
}

type circle struct {
	cx, cy, r float64
	c         color.NRGBA
}

type polygon struct {
	pts []point
	c   color.NRGBA
}

type point struct{ x, y float64 }

func (r rect) fill() color.NRGBA    { return r.c }
func (c circle) fill() color.NRGBA  { return c.c }
func (p polygon) fill() color.NRGBA { return p.c }

func (r rect) contains(x, y float64) bool {
	if x < r.x || y < r.y || x >= r.x+r.w || y >= r.y+r.h {
		return false
	}
	if r.rx <= 0 || r.ry <= 0 {
		return true
	}
	// Inside a corner's box, the point must also be inside that corner's ellipse.
	cx := math.Min(math.Max(x, r.x+r.rx), r.x+r.w-r.rx)
	cy := math.Min(math.Max(y, r.y+r.ry), r.y+r.h-r.ry)
	dx, dy := (x-cx)/r.rx, (y-cy)/r.ry
	return dx*dx+dy*dy <= 1
}

func (c circle) contains(x, y float64) bool {
	dx, dy := x-c.cx, y-c.cy
	return dx*dx+dy*dy <= c.r*c.r
}

// contains follows SVG's default nonzero fill rule: the winding number of the outline around the point.
func (p polygon) contains(x, y float64) bool {
	winding := 0
	for i, a := range p.pts {
		b := p.pts[(i+1)%len(p.pts)]
		side := (b.x-a.x)*(y-a.y) - (x-a.x)*(b.y-a.y)
		switch {
		case a.y <= y && b.y > y && side > 0:
			winding++
		case a.y > y && b.y <= y && side < 0:
			winding--
		}
	}
	return winding != 0
}

// Parse reads an SVG document made only of rect (x, y, width, height, rx, ry), circle (cx, cy, r) and polygon
// (points) elements with a "#rrggbb" fill, directly under an svg element whose viewBox starts at 0,0.
func Parse(data []byte) (*Icon, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var icon *Icon
	depth := 0
	skip := false // inside title or desc, whose text is not drawn
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("svg: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1:
				if icon, err = parseRoot(t); err != nil {
					return nil, err
				}
			case depth == 2 && (t.Name.Local == "title" || t.Name.Local == "desc"):
				skip = true
			case depth == 2:
				s, err := parseShape(t)
				if err != nil {
					return nil, err
				}
				icon.shapes = append(icon.shapes, s)
			case !skip:
				return nil, fmt.Errorf("svg: <%s> inside a shape is not supported", t.Name.Local)
			}
		case xml.EndElement:
			if depth == 2 {
				skip = false
			}
			depth--
		case xml.CharData:
			if depth >= 2 && !skip && len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("svg: text inside a shape is not supported")
			}
		}
	}
	if icon == nil {
		return nil, errors.New("svg: no svg element")
	}
	return icon, nil
}

func parseRoot(t xml.StartElement) (*Icon, error) {
	if t.Name.Local != "svg" {
		return nil, fmt.Errorf("svg: root element is <%s>, not <svg>", t.Name.Local)
	}
	for _, a := range t.Attr {
		if a.Name.Local != "viewBox" {
			continue
		}
		f := strings.Fields(strings.ReplaceAll(a.Value, ",", " "))
		if len(f) != 4 {
			return nil, fmt.Errorf("svg: viewBox %q: want four numbers", a.Value)
		}
		v := make([]float64, 4)
		for i, s := range f {
			n, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("svg: viewBox %q: %w", a.Value, err)
			}
			v[i] = n
		}
		if v[0] != 0 || v[1] != 0 || !(v[2] > 0) || !(v[3] > 0) {
			return nil, fmt.Errorf("svg: viewBox %q: want 0 0 WIDTH HEIGHT", a.Value)
		}
		return &Icon{Width: v[2], Height: v[3]}, nil
	}
	return nil, errors.New("svg: the svg element has no viewBox")
}

func parseShape(t xml.StartElement) (shape, error) {
	name := t.Name.Local
	var known []string
	switch name {
	case "rect":
		known = []string{"x", "y", "width", "height", "rx", "ry", "fill"}
	case "circle":
		known = []string{"cx", "cy", "r", "fill"}
	case "polygon":
		known = []string{"points", "fill"}
	default:
		return nil, fmt.Errorf("svg: <%s> is not supported", name)
	}
	attrs := map[string]string{}
	for _, a := range t.Attr {
		if !contains(known, a.Name.Local) {
			return nil, fmt.Errorf("svg: <%s %s> is not supported", name, a.Name.Local)
		}
		attrs[a.Name.Local] = a.Value
	}
	c, err := parseColor(attrs["fill"])
	if err != nil {
		return nil, fmt.Errorf("svg: <%s>: %w", name, err)
	}
	num := func(key string) float64 {
		if err != nil {
			return 0
		}
		s, ok := attrs[key]
		if !ok {
			return 0
		}
		var n float64
		if n, err = strconv.ParseFloat(s, 64); err == nil && (math.IsNaN(n) || math.IsInf(n, 0)) {
			err = fmt.Errorf("%s=%q is not a finite number", key, s)
		}
		return n
	}
	var s shape
	switch name {
	case "rect":
		r := rect{x: num("x"), y: num("y"), w: num("width"), h: num("height"), rx: num("rx"), ry: num("ry"), c: c}
		// As in SVG, a missing rx or ry takes the other's value, and neither exceeds half the side.
		if _, ok := attrs["ry"]; !ok {
			r.ry = r.rx
		}
		if _, ok := attrs["rx"]; !ok {
			r.rx = r.ry
		}
		r.rx, r.ry = math.Min(r.rx, r.w/2), math.Min(r.ry, r.h/2)
		s = r
	case "circle":
		s = circle{cx: num("cx"), cy: num("cy"), r: num("r"), c: c}
	case "polygon":
		var pts []point
		pts, err = parsePoints(attrs["points"])
		s = polygon{pts: pts, c: c}
	}
	if err != nil {
		return nil, fmt.Errorf("svg: <%s>: %w", name, err)
	}
	return s, nil
}

func parsePoints(s string) ([]point, error) {
	f := strings.Fields(strings.ReplaceAll(s, ",", " "))
	if len(f) < 6 || len(f)%2 != 0 {
		return nil, fmt.Errorf("points=%q: want at least three x,y pairs", s)
	}
	pts := make([]point, len(f)/2)
	for i := range pts {
		x, err := strconv.ParseFloat(f[2*i], 64)
		if err != nil {
			return nil, fmt.Errorf("points=%q: %w", s, err)
		}
		y, err := strconv.ParseFloat(f[2*i+1], 64)
		if err != nil {
			return nil, fmt.Errorf("points=%q: %w", s, err)
		}
		pts[i] = point{x, y}
	}
	return pts, nil
}

func parseColor(s string) (color.NRGBA, error) {
	if len(s) != 7 || s[0] != '#' {
		return color.NRGBA{}, fmt.Errorf("fill=%q: want #rrggbb", s)
	}
	v, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil {
		return color.NRGBA{}, fmt.Errorf("fill=%q: want #rrggbb", s)
	}
	return color.NRGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// samples is the number of sample points along each side of a pixel: 8x8 gives 64 levels of edge coverage.
const samples = 8

// Render draws the icon into a size x size image, the viewBox scaled to fit, with anti-aliased edges and a
// transparent background. Each sample point takes the colour of the topmost shape covering it, so shapes that
// overlap exactly leave no seam.
func (ic *Icon) Render(size int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	scale := math.Max(ic.Width, ic.Height) / float64(size)
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var r, g, b, hits int
			for sy := 0; sy < samples; sy++ {
				y := (float64(py) + (float64(sy)+0.5)/samples) * scale
				for sx := 0; sx < samples; sx++ {
					x := (float64(px) + (float64(sx)+0.5)/samples) * scale
					if c, ok := ic.colorAt(x, y); ok {
						r, g, b, hits = r+int(c.R), g+int(c.G), b+int(c.B), hits+1
					}
				}
			}
			if hits == 0 {
				continue
			}
			img.SetNRGBA(px, py, color.NRGBA{
				R: uint8((r + hits/2) / hits),
				G: uint8((g + hits/2) / hits),
				B: uint8((b + hits/2) / hits),
				A: uint8((hits*255 + samples*samples/2) / (samples * samples)),
			})
		}
	}
	return img
}

func (ic *Icon) colorAt(x, y float64) (color.NRGBA, bool) {
	for i := len(ic.shapes) - 1; i >= 0; i-- {
		if ic.shapes[i].contains(x, y) {
			return ic.shapes[i].fill(), true
		}
	}
	return color.NRGBA{}, false
}
