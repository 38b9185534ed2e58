// Package ramfb is the firmware's display: QEMU's ramfb protocol. The guest (SeaBIOS's vgabios-ramfb) sets aside a
// framebuffer in its own RAM and names it, with its format and geometry, by writing the fw_cfg file "etc/ramfb";
// the host then shows those pixels (see Scanout). There is no register, no interrupt and no VGA: just memory.
//
// Everything the guest writes is hostile: the format, the geometry and the whole pixel range are checked before a
// configuration is accepted, and the range is checked again on every frame.
package ramfb

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"paddock/engine/devices/fwcfg"
	"paddock/engine/guestmem"
)

// Limits on a guest framebuffer. SeaBIOS asks for 1024x768; these leave room for any mode a boot loader could want
// while keeping one frame's copy short.
const (
	BytesPerPixel = 4
	MaxWidth      = 8192
	MaxHeight     = 8192
	MaxStride     = 1 << 16
)

// Pixel formats accepted: 32-bit pixels, blue in the low byte, the top byte ignored (so ARGB shows as XRGB).
const (
	FourCCXRGB8888 = fwcfg.FourCCXRGB8888 // 'XR24'
	FourCCARGB8888 = 0x34325241           // 'AR24'
)

// ErrRefused wraps every reason a configuration is not accepted.
var ErrRefused = errors.New("ramfb configuration refused")

// Framebuffer is a checked guest framebuffer: Height lines of Width XRGB8888 pixels, Stride bytes apart, from the
// guest-physical address Addr.
type Framebuffer struct {
	Addr          uint64
	Width, Height int
	Stride        int
}

// Size is the guest memory the framebuffer covers, as QEMU counts it: Stride bytes for every line.
func (f Framebuffer) Size() uint64 { return uint64(f.Stride) * uint64(f.Height) }

// Check validates what the guest asked for against the guest's RAM. A zero stride means packed lines, as in QEMU.
func Check(c fwcfg.RAMFBConfig, mem *guestmem.Memory) (Framebuffer, error) {
	if c.FourCC != FourCCXRGB8888 && c.FourCC != FourCCARGB8888 {
		return Framebuffer{}, fmt.Errorf("%w: pixel format %#08x, want XR24 or AR24", ErrRefused, c.FourCC)
	}
	if c.Width == 0 || c.Height == 0 || c.Width > MaxWidth || c.Height > MaxHeight {
		return Framebuffer{}, fmt.Errorf("%w: %dx%d pixels, want 1x1 to %dx%d", ErrRefused, c.Width, c.Height, MaxWidth, MaxHeight)
	}
	stride := uint64(c.Stride)
	if stride == 0 {
		stride = uint64(c.Width) * BytesPerPixel
	}
	if stride < uint64(c.Width)*BytesPerPixel || stride > MaxStride {
		return Framebuffer{}, fmt.Errorf("%w: stride %d bytes for %d pixels a line, want %d to %d",
			ErrRefused, c.Stride, c.Width, uint64(c.Width)*BytesPerPixel, MaxStride)
	}
	fb := Framebuffer{Addr: c.Addr, Width: int(c.Width), Height: int(c.Height), Stride: int(stride)}
	if c.Addr > ^uint64(0)-fb.Size() {
		return Framebuffer{}, fmt.Errorf("%w: %#x+%#x wraps around", ErrRefused, c.Addr, fb.Size())
	}
	if _, err := mem.Slice(c.Addr, fb.Size()); err != nil {
		return Framebuffer{}, fmt.Errorf("%w: pixels not in guest RAM: %w", ErrRefused, err)
	}
	return fb, nil
}

// Device holds the framebuffer the guest configured. It lives as long as one boot (the guest RAM it checks
// against). Safe for concurrent use: vCPUs configure it, the scanout reads it.
type Device struct {
	mem *guestmem.Memory
	log *slog.Logger

	mu      sync.Mutex
	fb      Framebuffer
	enabled bool
	gen     uint64 // counts accepted configurations, so the scanout knows to redraw everything
	warned  bool   // a refused configuration has been logged at warning level
}

// New returns a device with no framebuffer set. mem is the guest RAM the framebuffer must lie in; log may be nil.
func New(mem *guestmem.Memory, log *slog.Logger) *Device {
	if log == nil {
		log = slog.Default()
	}
	return &Device{mem: mem, log: log}
}

// Attach publishes "etc/ramfb" on fw, the file through which the guest configures the device.
func (d *Device) Attach(fw *fwcfg.Device) error {
	return fw.AddWritableFile(fwcfg.FileRAMFB, fwcfg.RAMFBConfigSize, func(b []byte) { _ = d.Configure(b) })
}

// Configure takes the contents of "etc/ramfb" as the guest wrote them. An all-zero address and geometry turns the
// display off; a configuration that fails Check is refused (logged, and the previous one stays), as in QEMU.
func (d *Device) Configure(raw []byte) error {
	c, err := fwcfg.ParseRAMFBConfig(raw)
	if err != nil {
		return d.refuse(fmt.Errorf("%w: %w", ErrRefused, err))
	}
	if c.Addr == 0 && c.Width == 0 && c.Height == 0 {
		d.mu.Lock()
		d.enabled = false
		d.gen++
		d.mu.Unlock()
		d.log.Debug("ramfb: display off")
		return nil
	}
	fb, err := Check(c, d.mem)
	if err != nil {
		return d.refuse(err)
	}
	d.mu.Lock()
	d.fb, d.enabled = fb, true
	d.gen++
	d.mu.Unlock()
	d.log.Debug("ramfb: framebuffer set", "addr", fmt.Sprintf("%#x", fb.Addr), "width", fb.Width, "height", fb.Height, "stride", fb.Stride)
	return nil
}

// refuse logs a refused configuration, at warning level the first time only: the guest must not flood the log.
func (d *Device) refuse(err error) error {
	d.mu.Lock()
	first := !d.warned
	d.warned = true
	d.mu.Unlock()
	if first {
		d.log.Warn("ramfb: the guest's framebuffer is refused; the screen keeps its previous picture", "err", err)
	} else {
		d.log.Debug("ramfb: framebuffer refused", "err", err)
	}
	return err
}

// Current is the framebuffer in effect (ok false while there is none) and the count of configurations so far.
func (d *Device) Current() (fb Framebuffer, gen uint64, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fb, d.gen, d.enabled
}
