// Package display is the guest screen as the host sees it: a shared-memory framebuffer of 32 bpp XRGB8888
// pixels, conversion to images, damage tracking, and the translation of host input into guest input. It knows
// nothing of any GUI toolkit except in its one adapter file.
package display

import (
	"encoding/binary"
	"fmt"
	"image"

	"golang.org/x/sys/unix"
)

// Limits on the guest screen: small enough to keep the framebuffer in its memory window, large enough for 4K.
const (
	MinWidth, MinHeight = 320, 200
	MaxWidth, MaxHeight = 3840, 2160
	BytesPerPixel       = 4
	pageSize            = 4096
)

// Mode is a screen size and layout.
type Mode struct {
	Width, Height int
	Stride        int // bytes per line
}

// NewMode returns the mode for a width and height, with lines packed at 4 bytes a pixel.
func NewMode(width, height int) (Mode, error) {
	if width < MinWidth || height < MinHeight || width > MaxWidth || height > MaxHeight {
		return Mode{}, fmt.Errorf("screen size %dx%d is outside %dx%d to %dx%d", width, height, MinWidth, MinHeight, MaxWidth, MaxHeight)
	}
	return Mode{Width: width, Height: height, Stride: width * BytesPerPixel}, nil
}

// Size is the framebuffer's byte size, rounded up to whole pages (KVM maps memory in pages).
func (m Mode) Size() int { return (m.Stride*m.Height + pageSize - 1) &^ (pageSize - 1) }

// Framebuffer is guest-visible screen memory in a memfd, so another process (the GUI) can map the same pixels.
type Framebuffer struct {
	mode  Mode
	fd    int
	pix   []byte
	owner bool
}

// NewFramebuffer creates the memfd and maps it read-write, for the engine.
func NewFramebuffer(m Mode) (*Framebuffer, error) {
	fd, err := unix.MemfdCreate("paddock-framebuffer", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("create framebuffer memfd: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(m.Size())); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("size framebuffer memfd: %w", err)
	}
	// The size is part of the contract with every mapper: forbid changing it.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("seal framebuffer memfd: %w", err)
	}
	pix, err := unix.Mmap(fd, 0, m.Size(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("map framebuffer: %w", err)
	}
	return &Framebuffer{mode: m, fd: fd, pix: pix, owner: true}, nil
}

// MapFramebuffer maps a framebuffer memfd received from the engine, read-only. It checks the memfd really is as
// large as the mode says, so a lying peer cannot make the reader fault.
func MapFramebuffer(fd int, m Mode) (*Framebuffer, error) {
	if m.Stride < m.Width*BytesPerPixel || m.Width <= 0 || m.Height <= 0 {
		return nil, fmt.Errorf("framebuffer mode %+v is inconsistent", m)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("framebuffer memfd: %w", err)
	}
	if st.Size < int64(m.Size()) {
		return nil, fmt.Errorf("framebuffer memfd has %d bytes, mode needs %d", st.Size, m.Size())
	}
	pix, err := unix.Mmap(fd, 0, m.Size(), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map framebuffer: %w", err)
	}
	return &Framebuffer{mode: m, fd: fd, pix: pix}, nil
}

// Mode is the framebuffer's size and layout.
func (f *Framebuffer) Mode() Mode { return f.mode }

// Fd is the memfd, to pass to another process.
func (f *Framebuffer) Fd() int { return f.fd }

// Memory is the mapped pixel memory (read-only for a MapFramebuffer mapping).
func (f *Framebuffer) Memory() []byte { return f.pix }

// Close unmaps the pixels and closes the memfd.
func (f *Framebuffer) Close() error {
	err := unix.Munmap(f.pix)
	if cerr := unix.Close(f.fd); err == nil {
		err = cerr
	}
	return err
}

// Snapshot copies the screen into an RGBA image (alpha opaque): what a screenshot shows.
func (f *Framebuffer) Snapshot() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, f.mode.Width, f.mode.Height))
	f.CopyRect(img, img.Rect)
	return img
}

// CopyRect converts the pixels of r (clipped to the screen) into dst, which has the screen's size.
func (f *Framebuffer) CopyRect(dst *image.RGBA, r image.Rectangle) {
	r = r.Intersect(image.Rect(0, 0, f.mode.Width, f.mode.Height)).Intersect(dst.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		src := f.pix[y*f.mode.Stride+r.Min.X*BytesPerPixel : y*f.mode.Stride+r.Max.X*BytesPerPixel]
		out := dst.Pix[dst.PixOffset(r.Min.X, y):]
		out = out[:len(src)]
		// Two pixels at a time: XRGB8888 in memory is B,G,R,X and RGBA is R,G,B,A, so swap red and blue in each
		// 32-bit lane and set alpha.
		i := 0
		for ; i+8 <= len(src); i += 8 {
			v := binary.LittleEndian.Uint64(src[i:])
			v = 0xFF000000FF000000 | (v&0x000000FF000000FF)<<16 | v&0x0000FF000000FF00 | (v>>16)&0x000000FF000000FF
			binary.LittleEndian.PutUint64(out[i:], v)
		}
		for ; i < len(src); i += 4 {
			v := binary.LittleEndian.Uint32(src[i:])
			binary.LittleEndian.PutUint32(out[i:], 0xFF000000|(v&0xFF)<<16|v&0xFF00|(v>>16)&0xFF)
		}
	}
}

// FitHost picks a guest screen size for a host display of hostW x hostH: most of the host screen, leaving room
// for the window's frame and the desktop's panels, in multiples of 8 pixels, within the limits above and no larger
// than 1920x1200 (a guest that wants more can ask for it).
func FitHost(hostW, hostH int) (w, h int) {
	w, h = hostW*85/100&^7, hostH*85/100&^7
	w = max(min(w, 1920, MaxWidth), 800)
	h = max(min(h, 1200, MaxHeight), 600)
	return w, h
}
