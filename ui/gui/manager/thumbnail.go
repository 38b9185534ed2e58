package manager

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"image"
	"log/slog"
	"sync"

	"paddock/display"
	"paddock/engine/control"
	"paddock/library"
	"paddock/ui/vmctl"
)

// Thumbnail size in pixels: the width, and the height of a 16:10 screen at that width.
const (
	ThumbWidth  = 160
	ThumbHeight = 100
)

// scaleThumbnail shrinks the framebuffer fb to at most maxW x maxH, keeping its aspect ratio. Each thumbnail
// pixel averages four samples of its source block: reading every source pixel would cost a whole frame's memory
// traffic per VM per tick for no visible gain at this size. The guest writes fb while this reads it; a torn
// thumbnail is redrawn a second later.
func scaleThumbnail(fb *display.Framebuffer, maxW, maxH int) *image.RGBA {
	m := fb.Mode()
	pix := fb.Memory()
	if m.Width <= 0 || m.Height <= 0 || m.Stride < m.Width*display.BytesPerPixel || len(pix) < m.Stride*m.Height {
		return nil
	}
	w, h := maxW, maxW*m.Height/m.Width
	if h > maxH {
		w, h = maxH*m.Width/m.Height, maxH
	}
	w, h = max(1, min(w, m.Width)), max(1, min(h, m.Height))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for ty := 0; ty < h; ty++ {
		for tx := 0; tx < w; tx++ {
			var r, g, b int
			for s := 0; s < 4; s++ {
				// Sample points at a quarter and three quarters of the block, both ways.
				sx := (4*tx + 1 + 2*(s&1)) * m.Width / (4 * w)
				sy := (4*ty + 1 + 2*(s>>1)) * m.Height / (4 * h)
				v := binary.LittleEndian.Uint32(pix[sy*m.Stride+sx*display.BytesPerPixel:])
				r += int(v >> 16 & 0xff)
				g += int(v >> 8 & 0xff)
				b += int(v & 0xff)
			}
			o := img.PixOffset(tx, ty)
			img.Pix[o], img.Pix[o+1], img.Pix[o+2], img.Pix[o+3] = uint8(r/4), uint8(g/4), uint8(b/4), 0xff
		}
	}
	return img
}

// thumbnailer keeps a console open on every running VM and makes a thumbnail of its screen on each tick. It runs
// off the UI goroutine; publish receives only thumbnails that changed.
type thumbnailer struct {
	mu       sync.Mutex
	consoles map[string]*thumbSource // by VM id
	open     func(vm library.VM) (*control.Console, error)
	publish  func(id string, img *image.RGBA)
}

type thumbSource struct {
	console *control.Console
	// since is when the VM's state last changed before the console opened: a later change means a new run (a new
	// VMM with a new framebuffer) may have begun, so the console is reopened.
	since int64
	sum   uint64 // hash of the last published thumbnail
}

func newThumbnailer(publish func(id string, img *image.RGBA)) *thumbnailer {
	return &thumbnailer{
		consoles: map[string]*thumbSource{},
		open:     openConsole,
		publish:  publish,
	}
}

// tick makes a thumbnail of each VM in running, opening consoles for new ones and closing those of VMs no longer
// there. A VM whose console cannot be opened (still starting, or just ended) is tried again next tick.
func (t *thumbnailer) tick(running []library.VM) {
	t.mu.Lock()
	defer t.mu.Unlock()
	want := make(map[string]bool, len(running))
	for _, vm := range running {
		want[vm.ID] = true
		src := t.consoles[vm.ID]
		if src != nil && src.since != vm.StateChanged.UnixMilli() {
			src.console.Close()
			delete(t.consoles, vm.ID)
			src = nil
		}
		if src == nil {
			c, err := t.open(vm)
			if err != nil {
				slog.Debug("no thumbnail yet", "vm", vm.Name, "err", err)
				continue
			}
			src = &thumbSource{console: c, since: vm.StateChanged.UnixMilli()}
			t.consoles[vm.ID] = src
		}
		img := scaleThumbnail(src.console.Framebuffer(), ThumbWidth, ThumbHeight)
		if img == nil {
			continue
		}
		h := fnv.New64a()
		h.Write(img.Pix)
		if sum := h.Sum64(); sum != src.sum {
			src.sum = sum
			t.publish(vm.ID, img)
		}
	}
	for id, src := range t.consoles {
		if !want[id] {
			src.console.Close()
			delete(t.consoles, id)
		}
	}
}

// openConsole connects to a running VM's screen. A VMM that dies while answering has been seen to make the
// control client panic on a failed read (a negative byte count); the window must outlive any VMM, so that panic
// becomes an error here.
func openConsole(vm library.VM) (c *control.Console, err error) {
	defer func() {
		if p := recover(); p != nil {
			c, err = nil, fmt.Errorf("connecting to %s: %v", vm.Name, p)
		}
	}()
	return control.OpenConsole(vmctl.SocketPath(vm))
}

// close closes every console.
func (t *thumbnailer) close() {
	t.tick(nil)
}
