package x86

import (
	"encoding/binary"
	"fmt"

	"paddock/engine/guestmem"
)

// VideoTypeVLFB is screen_info.orig_video_isVGA for a VESA linear framebuffer.
const VideoTypeVLFB = 0x23

const (
	screenInfoSize       = 0x40
	videoCapability64Bit = 1 << 1
)

// Framebuffer is a linear 32 bpp XRGB8888 framebuffer in guest-physical memory.
type Framebuffer struct {
	Base   uint64 // guest-physical address
	Size   uint64 // bytes of memory behind Base
	Width  uint32 // pixels
	Height uint32
	Stride uint32 // bytes per line
}

// PutScreenInfo encodes fb as a struct screen_info (the first 64 bytes of boot_params) in dst. With a VLFB, Linux
// binds simpledrm/simplefb (format x8r8g8b8) or vesafb to it.
func PutScreenInfo(dst []byte, fb Framebuffer) error {
	if len(dst) < screenInfoSize {
		return fmt.Errorf("screen_info needs %d bytes, have %d", screenInfoSize, len(dst))
	}
	switch {
	case fb.Width == 0 || fb.Height == 0 || fb.Width > 0xFFFF || fb.Height > 0xFFFF:
		return fmt.Errorf("framebuffer size %dx%d is out of range", fb.Width, fb.Height)
	case fb.Stride < fb.Width*4 || fb.Stride > 0xFFFF:
		return fmt.Errorf("framebuffer stride %d does not fit width %d at 32 bpp", fb.Stride, fb.Width)
	case uint64(fb.Stride)*uint64(fb.Height) > fb.Size:
		return fmt.Errorf("framebuffer of %d bytes is smaller than %d lines of %d bytes", fb.Size, fb.Height, fb.Stride)
	case fb.Base == 0 || fb.Base+fb.Size < fb.Base:
		return fmt.Errorf("framebuffer base %#x is invalid", fb.Base)
	case (fb.Size+0xFFFF)>>16 > 0xFFFF_FFFF:
		return fmt.Errorf("framebuffer of %d bytes is too large", fb.Size)
	}
	si := dst[:screenInfoSize]
	clear(si)
	le := binary.LittleEndian
	si[0x0F] = VideoTypeVLFB // orig_video_isVGA
	le.PutUint16(si[0x12:], uint16(fb.Width))
	le.PutUint16(si[0x14:], uint16(fb.Height))
	le.PutUint16(si[0x16:], 32) // lfb_depth
	le.PutUint32(si[0x18:], uint32(fb.Base))
	le.PutUint32(si[0x1C:], uint32((fb.Size+0xFFFF)>>16)) // lfb_size: 64 KiB units for a VLFB
	le.PutUint16(si[0x24:], uint16(fb.Stride))
	si[0x26], si[0x27] = 8, 16 // red size, position
	si[0x28], si[0x29] = 8, 8  // green
	si[0x2A], si[0x2B] = 8, 0  // blue
	// rsvd stays 0/0: simplefb's table then matches x8r8g8b8, not a8r8g8b8.
	if fb.Base>>32 != 0 {
		le.PutUint32(si[0x36:], videoCapability64Bit)
		le.PutUint32(si[0x3A:], uint32(fb.Base>>32))
	}
	return nil
}

// WriteScreenInfo fills screen_info in an already written zero page.
func WriteScreenInfo(mem *guestmem.Memory, zeroPage uint64, fb Framebuffer) error {
	dst, err := mem.Slice(zeroPage+zpScreenInfo, screenInfoSize)
	if err != nil {
		return fmt.Errorf("write screen_info: %w", err)
	}
	return PutScreenInfo(dst, fb)
}
