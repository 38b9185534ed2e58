package machine

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"time"

	"paddock/display"
	"paddock/engine/kvm"
	"paddock/engine/virtio/input"
	"paddock/engine/x86"
)

const pageSize = 4096

// DefaultScreen is the guest screen size when the caller names none (and no host display says better).
var DefaultScreen = [2]int{1024, 768}

// screenMode resolves the configured screen size.
func (c *Config) screenMode() (display.Mode, error) {
	w, h := c.ScreenWidth, c.ScreenHeight
	if w == 0 && h == 0 {
		w, h = DefaultScreen[0], DefaultScreen[1]
	}
	return display.NewMode(w, h)
}

// attachFramebuffer maps the framebuffer memfd as its own memory slot, with dirty-page logging so the display
// only looks at what the guest drew.
func (b *boot) attachFramebuffer(slot uint32) (*x86.Framebuffer, error) {
	fb := b.m.fb
	if err := b.vm.SetMemoryRegion(slot, kvm.MemLogDirtyPages, x86.FramebufferStart, fb.Memory()); err != nil {
		return nil, fmt.Errorf("framebuffer: %w", err)
	}
	b.fbSlot = slot
	mode := fb.Mode()
	return &x86.Framebuffer{
		Base: x86.FramebufferStart, Size: uint64(len(fb.Memory())),
		Width: uint32(mode.Width), Height: uint32(mode.Height), Stride: uint32(mode.Stride),
	}, nil
}

// Framebuffer is the guest's screen; it lives as long as the Machine, across reboots.
func (m *Machine) Framebuffer() *display.Framebuffer { return m.fb }

// DirtyPages reports the framebuffer pages written since the last call. Between boots nothing is written.
func (m *Machine) DirtyPages(bitmap []uint64) error {
	err := m.withBoot(func(b *boot) error {
		if err := b.vm.DirtyLog(b.fbSlot, len(m.fb.Memory())/pageSize, bitmap); err != nil {
			return err
		}
		// Under firmware boot the engine, not the guest, writes the framebuffer: add the pages the scanout changed.
		if b.ramfb != nil {
			b.ramfb.scan.TakeDirty(bitmap)
		}
		return nil
	})
	if errors.Is(err, errNotRunning) {
		clear(bitmap)
		return nil
	}
	return err
}

// errKeyboardNotReading means the guest left scan codes unread for too long.
var errKeyboardNotReading = errors.New("the guest is not reading its keyboard")

// keyFeedTimeout bounds how long typed keys wait for a guest that does not read them.
const keyFeedTimeout = 10 * time.Second

// Key sends one key going down or up to the PS/2 keyboard.
func (m *Machine) Key(k display.Key, down bool) error {
	return m.TypeKeys([]display.KeyEvent{{Key: k, Down: down}})
}

// TypeKeys sends key events in order, waiting while the keyboard's buffer is full, and fails if the guest leaves
// them unread for too long. As on a real PC, keys the guest has not read when it resets its keyboard are lost.
func (m *Machine) TypeKeys(events []display.KeyEvent) error {
	var codes []byte
	for _, e := range events {
		b, err := display.Set1(e.Key, e.Down)
		if err != nil {
			return err
		}
		codes = append(codes, b...)
	}
	deadline := time.Now().Add(keyFeedTimeout)
	sent := 0
	for sent < len(codes) {
		n := m.legacy.i8042.KeyboardInput(codes[sent:])
		sent += n
		if sent == len(codes) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w (%d of %d scan codes delivered)", errKeyboardNotReading, sent, len(codes))
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// Pointer moves the guest's absolute pointer (the virtio tablet) and sets its buttons and wheel.
func (m *Machine) Pointer(p display.PointerState) error {
	mode := m.fb.Mode()
	return m.withBoot(func(b *boot) error {
		b.tablet.Pointer(p.X, p.Y, mode.Width, mode.Height, input.Button(p.Buttons), p.Wheel)
		return nil
	})
}

// ScreenshotPNG encodes the guest's screen as PNG.
func (m *Machine) ScreenshotPNG() ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, m.fb.Snapshot()); err != nil {
		return nil, fmt.Errorf("encode screenshot: %w", err)
	}
	return buf.Bytes(), nil
}

var _ display.Console = (*Machine)(nil)
