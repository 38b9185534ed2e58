package vmwindow

import (
	"math"

	"fyne.io/fyne/v2"
)

// placement is where the guest screen sits inside the widget: as large as fits with its aspect ratio kept,
// centred, with bars on the sides that do not fill.
type placement struct {
	pos   fyne.Position // top-left corner of the guest image, in widget coordinates
	size  fyne.Size     // on-screen size of the guest image
	scale float32       // widget units per guest pixel
	pixel float32       // device pixels per guest pixel
}

// snapTolerance lets a screen that is just over a whole-number scale (a window a few pixels larger than the
// guest) show at that whole scale, pixel for pixel, instead of blurring every edge by a fraction.
const snapTolerance = 0.05

// fit places a guest screen of gw x gh pixels inside area; canvasScale is device pixels per widget unit.
func fit(area fyne.Size, gw, gh int, canvasScale float32) placement {
	if gw <= 0 || gh <= 0 || area.Width <= 0 || area.Height <= 0 {
		return placement{}
	}
	if canvasScale <= 0 {
		canvasScale = 1
	}
	s := min(area.Width/float32(gw), area.Height/float32(gh))
	pixel := s * canvasScale
	if whole := float32(math.Floor(float64(pixel))); whole >= 1 && pixel-whole < snapTolerance*whole {
		pixel = whole
		s = pixel / canvasScale
	}
	size := fyne.NewSize(float32(gw)*s, float32(gh)*s)
	// Whole device pixels for the corner, so 1:1 and integer scales land exactly on the host's pixel grid.
	x := float32(math.Floor(float64((area.Width-size.Width)/2*canvasScale))) / canvasScale
	y := float32(math.Floor(float64((area.Height-size.Height)/2*canvasScale))) / canvasScale
	return placement{pos: fyne.NewPos(x, y), size: size, scale: s, pixel: pixel}
}

// guestPoint maps a position in widget coordinates to the guest pixel under it, clamped to the screen, so a
// pointer over the bars lands on the nearest edge.
func (p placement) guestPoint(pos fyne.Position, gw, gh int) (int, int) {
	if p.scale <= 0 {
		return 0, 0
	}
	x := int(math.Floor(float64((pos.X - p.pos.X) / p.scale)))
	y := int(math.Floor(float64((pos.Y - p.pos.Y) / p.scale)))
	return clamp(x, 0, gw-1), clamp(y, 0, gh-1)
}

func clamp(v, lo, hi int) int {
	return max(lo, min(v, hi))
}
