package control

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"paddock/display"
)

// Console is a running VM's screen and input seen from another process (a viewer window): the framebuffer is the
// VM's own memfd mapped read-only, and dirty pages, keys and pointer travel over the control socket. Screen
// polling and input use separate connections, so typing never waits behind a frame.
type Console struct {
	screen, input *Client
	fb            *display.Framebuffer
}

var _ display.Console = (*Console)(nil)

// OpenConsole connects to the VM whose control socket is at path and maps its framebuffer.
func OpenConsole(path string) (*Console, error) {
	screen, err := Dial(path)
	if err != nil {
		return nil, err
	}
	input, err := Dial(path)
	if err != nil {
		screen.Close()
		return nil, err
	}
	c := &Console{screen: screen, input: input}
	var info FramebufferInfo
	fds, err := screen.CallFDs(OpFramebuffer, nil, &info)
	if err == nil && len(fds) != 1 {
		err = fmt.Errorf("the VM sent %d descriptors for its framebuffer, want 1", len(fds))
	}
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		c.Close()
		return nil, fmt.Errorf("framebuffer: %w", err)
	}
	c.fb, err = display.MapFramebuffer(fds[0], display.Mode{Width: info.Width, Height: info.Height, Stride: info.Stride})
	if err != nil {
		unix.Close(fds[0])
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close unmaps the framebuffer and hangs up.
func (c *Console) Close() error {
	var errs []error
	if c.fb != nil {
		errs = append(errs, c.fb.Close())
	}
	errs = append(errs, c.screen.Close(), c.input.Close())
	return errors.Join(errs...)
}

// Framebuffer is the VM's screen memory, mapped read-only.
func (c *Console) Framebuffer() *display.Framebuffer { return c.fb }

// DirtyPages asks the VM which framebuffer pages changed. A bitmap longer than the reply is zero-filled beyond it.
func (c *Console) DirtyPages(bitmap []uint64) error {
	var d DirtyPages
	if err := c.screen.Call(OpDirtyPages, nil, &d); err != nil {
		return err
	}
	n := copy(bitmap, d.Bitmap)
	clear(bitmap[n:])
	return nil
}

// Key sends one key event.
func (c *Console) Key(k display.Key, down bool) error {
	return c.input.Call(OpKey, KeyArgs{Key: uint16(k), Down: down}, nil)
}

// Pointer sends the pointer's state.
func (c *Console) Pointer(p display.PointerState) error {
	return c.input.Call(OpPointerState, PointerState{X: p.X, Y: p.Y, Buttons: uint8(p.Buttons), Wheel: p.Wheel}, nil)
}
