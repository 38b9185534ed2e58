package display_test

import (
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"paddock/tests/gui/harness"
)

// The flood guest the benchmarks rely on really redraws its screen from ring 3: it says it runs at CPL3, counts
// frames, every pixel of a screenshot is the fill colour of a frame it has drawn (a screenshot of a screen
// redrawn thousands of times a second catches several frames), and two screenshots taken apart differ.
func TestFloodGuestRedraws(t *testing.T) {
	harness.RequireKVM(t)
	if paddockBuildErr != nil {
		t.Fatalf("the paddock binary did not build:\n%v", paddockBuildErr)
	}
	env := harness.Env(t)
	p, _, name := floodVMNamed(t, env)
	before := lastGuestFrames(p.Stdout())
	p.Poll("the guest to count 256 more frames", func() bool { return lastGuestFrames(p.Stdout()) >= before+256 })

	var shots []map[uint32]int
	for i := range 2 {
		file := filepath.Join(t.TempDir(), fmt.Sprintf("flood%d.png", i))
		if code, out, errOut := harness.Run(t, paddockBin, env, "screenshot", name, file); code != 0 {
			t.Fatalf("paddock screenshot: status %d\n%s%s", code, out, errOut)
		}
		colours := screenshotColours(t, file, floodW, floodH)
		// The guest's frame count reaches the serial line later than its pixels reach the screen (it prints every
		// 64 frames, through the UART): each colour must be a frame the guest reports having drawn soon after.
		newest := uint32(0)
		for c := range colours {
			newest = max(newest, floodFrameOf(c))
		}
		deadline := time.Now().Add(10 * time.Second)
		for uint32(lastGuestFrames(p.Stdout())+64) < newest && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		drawn := lastGuestFrames(p.Stdout()) + 64
		for c := range colours {
			if n := floodFrameOf(c); n > uint32(drawn) {
				t.Errorf("screenshot %d has colour %06x, the fill of no frame the guest has drawn (frame %d of %d)", i, c, n, drawn)
			}
		}
		shots = append(shots, colours)
		time.Sleep(100 * time.Millisecond)
	}
	same := true
	for c := range shots[1] {
		if _, ok := shots[0][c]; !ok {
			same = false
		}
	}
	if same {
		t.Errorf("two screenshots 100 ms apart show the same colours %v: the guest is not redrawing", shots[0])
	}
}

// screenshotColours counts the colours of a sample of a screenshot's pixels, as 0xRRGGBB.
func screenshotColours(t *testing.T, path string, w, h int) map[uint32]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("screenshot is %v, want %dx%d", b, w, h)
	}
	colours := map[uint32]int{}
	for y := 0; y < h; y += 7 {
		for x := 0; x < w; x += 5 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[(r>>8)<<16|(g>>8)<<8|b>>8]++
		}
	}
	return colours
}

// floodFrameOf is the frame number (modulo 2^24) whose fill colour is c: the guest (fbflood.asm) fills frame n
// with (n*0x050709 + 0x402010) & 0xffffff, and the odd multiplier has an inverse modulo 2^24.
func floodFrameOf(c uint32) uint32 {
	const mul, add, mask = 0x050709, 0x402010, 0xffffff
	inv := uint32(mul)
	for range 5 { // Newton's iteration doubles the correct low bits each step
		inv *= 2 - mul*inv
	}
	return ((c - add) * inv) & mask
}

func TestFloodFrameOf(t *testing.T) {
	for _, n := range []uint32{0, 1, 2, 63, 64, 1000, 123456, 1<<24 - 1} {
		if got := floodFrameOf((n*0x050709 + 0x402010) & 0xffffff); got != n {
			t.Errorf("floodFrameOf(colour of frame %d) = %d", n, got)
		}
	}
}
