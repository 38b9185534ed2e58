package display

import (
	"encoding/binary"
	"image"
	"image/color"
	"testing"

	"golang.org/x/sys/unix"
)

func newFB(t *testing.T, w, h int) *Framebuffer {
	t.Helper()
	m, err := NewMode(w, h)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := NewFramebuffer(m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fb.Close() })
	return fb
}

func putPixel(fb *Framebuffer, x, y int, xrgb uint32) {
	binary.LittleEndian.PutUint32(fb.Memory()[y*fb.Mode().Stride+x*4:], xrgb)
}

// dirtyFor marks the pages a set of pixel writes touched, as KVM's dirty log would.
func dirtyFor(fb *Framebuffer, pts ...image.Point) []uint64 {
	bm := make([]uint64, (len(fb.Memory())/pageSize+63)/64)
	for _, p := range pts {
		page := (p.Y*fb.Mode().Stride + p.X*4) / pageSize
		bm[page/64] |= 1 << (page % 64)
	}
	return bm
}

func TestModeLimits(t *testing.T) {
	for _, bad := range [][2]int{{0, 0}, {100, 100}, {4000, 2000}, {1024, 5000}} {
		if _, err := NewMode(bad[0], bad[1]); err == nil {
			t.Errorf("NewMode(%d, %d) accepted", bad[0], bad[1])
		}
	}
	m, err := NewMode(1920, 1080)
	if err != nil || m.Stride != 7680 || m.Size()%4096 != 0 || m.Size() < 1920*1080*4 {
		t.Fatalf("1920x1080: %+v size %d, %v", m, m.Size(), err)
	}
}

func TestSnapshotConvertsXRGB(t *testing.T) {
	fb := newFB(t, 640, 480)
	putPixel(fb, 0, 0, 0x00ff0000)
	putPixel(fb, 639, 479, 0x0000ff00)
	putPixel(fb, 10, 20, 0xff123456) // the X byte is ignored: the screen is opaque
	img := fb.Snapshot()
	for _, c := range []struct {
		x, y int
		want color.RGBA
	}{{0, 0, color.RGBA{255, 0, 0, 255}}, {639, 479, color.RGBA{0, 255, 0, 255}}, {10, 20, color.RGBA{0x12, 0x34, 0x56, 255}}, {1, 1, color.RGBA{0, 0, 0, 255}}} {
		if got := img.RGBAAt(c.x, c.y); got != c.want {
			t.Errorf("pixel (%d,%d) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
}

func TestDamageOnePixelAndIdle(t *testing.T) {
	fb := newFB(t, 1024, 768)
	d := NewDamageTracker(fb)
	if got := d.Update(d.All()); len(got) != 1 || got[0] != image.Rect(0, 0, 1024, 768) {
		t.Fatalf("first full update = %v, want the whole screen", got)
	}
	if got := d.Update(make([]uint64, len(d.All()))); len(got) != 0 {
		t.Fatalf("idle guest produced damage %v", got)
	}
	putPixel(fb, 500, 300, 0xffffff)
	if got := d.Update(dirtyFor(fb, image.Pt(500, 300))); len(got) != 1 || got[0] != image.Rect(500, 300, 501, 301) {
		t.Fatalf("one pixel: damage %v, want [(500,300)-(501,301)]", got)
	}
	// A page written with the same bytes (the guest redrew what was there) is no damage.
	if got := d.Update(dirtyFor(fb, image.Pt(500, 300))); len(got) != 0 {
		t.Fatalf("unchanged rewrite produced damage %v", got)
	}
}

func TestDamageMergesAndSeparates(t *testing.T) {
	fb := newFB(t, 800, 600)
	d := NewDamageTracker(fb)
	d.Update(d.All())
	var pts []image.Point
	for y := 100; y < 200; y++ { // a filled box spanning many pages
		for x := 50; x < 150; x++ {
			putPixel(fb, x, y, 0x00ff00)
			pts = append(pts, image.Pt(x, y))
		}
	}
	putPixel(fb, 700, 550, 0xff) // and a lone pixel far away
	pts = append(pts, image.Pt(700, 550))
	got := d.Update(dirtyFor(fb, pts...))
	if len(got) != 2 || got[0] != image.Rect(50, 100, 150, 200) || got[1] != image.Rect(700, 550, 701, 551) {
		t.Fatalf("damage %v, want the box and the lone pixel", got)
	}
}

func TestMapFramebufferReadOnly(t *testing.T) {
	fb := newFB(t, 320, 200)
	fd, err := unix.Dup(fb.Fd())
	if err != nil {
		t.Fatal(err)
	}
	view, err := MapFramebuffer(fd, fb.Mode())
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()
	putPixel(fb, 5, 5, 0x00abcdef)
	if got := view.Snapshot().RGBAAt(5, 5); got != (color.RGBA{0xab, 0xcd, 0xef, 0xff}) {
		t.Fatalf("reader sees %v", got)
	}
	big, _ := NewMode(1920, 1080)
	fd2, _ := unix.Dup(fb.Fd())
	if _, err := MapFramebuffer(fd2, big); err == nil {
		t.Fatal("mapped a mode larger than the memfd")
	}
	unix.Close(fd2)
	// The memfd is sealed: nobody can shrink it under a reader.
	if err := unix.Ftruncate(fb.Fd(), 4096); err == nil {
		t.Fatal("framebuffer memfd could be shrunk")
	}
}

func BenchmarkDamageFullRedraw1080p(b *testing.B) {
	m, _ := NewMode(1920, 1080)
	fb, err := NewFramebuffer(m)
	if err != nil {
		b.Fatal(err)
	}
	defer fb.Close()
	d := NewDamageTracker(fb)
	all := d.All()
	d.Update(all)
	pix := fb.Memory()
	b.SetBytes(int64(m.Stride * m.Height))
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		for j := 0; j < len(pix); j += 4 {
			pix[j] = byte(i)
		}
		b.StartTimer()
		d.Update(all)
	}
}

func TestFitHost(t *testing.T) {
	for _, c := range []struct{ hw, hh, w, h int }{
		{1920, 1080, 1632, 912}, {3840, 2160, 1920, 1200}, {1366, 768, 1160, 648}, {640, 480, 800, 600},
	} {
		if w, h := FitHost(c.hw, c.hh); w != c.w || h != c.h {
			t.Errorf("FitHost(%d, %d) = %dx%d, want %dx%d", c.hw, c.hh, w, h, c.w, c.h)
		}
		w, h := FitHost(c.hw, c.hh)
		if _, err := NewMode(w, h); err != nil {
			t.Errorf("FitHost(%d, %d) gave an unusable mode: %v", c.hw, c.hh, err)
		}
	}
}

func TestCopyRectOddWidthAndClipping(t *testing.T) {
	fb := newFB(t, 321, 200) // an odd width leaves one pixel for the single-pixel path
	for x := 0; x < 321; x++ {
		putPixel(fb, x, 7, uint32(x)<<16|uint32(255-x%256)<<8|uint32(x%7))
	}
	img := image.NewRGBA(image.Rect(0, 0, 321, 200))
	fb.CopyRect(img, image.Rect(-5, 7, 400, 8))
	for x := 0; x < 321; x++ {
		want := color.RGBA{byte(x), byte(255 - x%256), byte(x % 7), 255}
		if got := img.RGBAAt(x, 7); got != want {
			t.Fatalf("pixel %d = %v, want %v", x, got, want)
		}
	}
	if got := img.RGBAAt(0, 8); got.A != 0 {
		t.Fatalf("row outside the rectangle was written: %v", got)
	}
}
