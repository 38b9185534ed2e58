package display_test

import (
	"image"
	"testing"

	"paddock/display"
)

// BenchmarkCopyRect1080p: what the window does on its UI goroutine for each frame of a guest that changed its
// whole 1920x1080 screen: display.Framebuffer.CopyRect from guest XRGB into the shown RGBA image. Its time per
// operation bounds the window's full-screen frame rate before any drawing.
func BenchmarkCopyRect1080p(b *testing.B) {
	mode, err := display.NewMode(floodW, floodH)
	if err != nil {
		b.Fatal(err)
	}
	fb, err := display.NewFramebuffer(mode)
	if err != nil {
		b.Fatal(err)
	}
	defer fb.Close()
	dst := image.NewRGBA(image.Rect(0, 0, floodW, floodH))
	b.SetBytes(int64(floodW * floodH * display.BytesPerPixel))
	for b.Loop() {
		fb.CopyRect(dst, dst.Rect)
	}
	b.ReportMetric(1e9/(float64(b.Elapsed().Nanoseconds())/float64(b.N)), "max-frames/s")
}
