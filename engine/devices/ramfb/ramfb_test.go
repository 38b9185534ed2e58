package ramfb

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"testing"

	"paddock/engine/devices/fwcfg"
	"paddock/engine/guestmem"
)

const (
	testRAM   = 16 << 20
	fbAddr    = 0x40_0000 // where the test guest keeps its framebuffer
	descAddr  = 0x1000    // its fw_cfg DMA descriptor
	bufAddr   = 0x2000    // its fw_cfg DMA buffer
	dmaSelect = 1 << 3
	dmaRead   = 1 << 1
	dmaWrite  = 1 << 4
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newRAM(t testing.TB) ([]byte, *guestmem.Memory) {
	ram := make([]byte, testRAM)
	mem, err := guestmem.New(guestmem.Region{GPA: 0, Host: ram})
	if err != nil {
		t.Fatal(err)
	}
	return ram, mem
}

// config encodes an "etc/ramfb" structure as SeaBIOS does: every field big-endian.
func config(addr uint64, fourcc, width, height, stride uint32) []byte {
	be := binary.BigEndian
	b := be.AppendUint64(nil, addr)
	b = be.AppendUint32(b, fourcc)
	b = be.AppendUint32(b, 0)
	b = be.AppendUint32(b, width)
	b = be.AppendUint32(b, height)
	return be.AppendUint32(b, stride)
}

// dma runs one fw_cfg DMA request from the guest, as SeaBIOS's qemu_cfg_dma_transfer does, and returns the control
// word the device left.
func dma(ram []byte, fw *fwcfg.Device, control, length uint32, addr uint64) uint32 {
	d := ram[descAddr : descAddr+16]
	binary.BigEndian.PutUint32(d[0:], control)
	binary.BigEndian.PutUint32(d[4:], length)
	binary.BigEndian.PutUint64(d[8:], addr)
	fw.Write(fwcfg.PortDMAHigh-fwcfg.PortBase, []byte{0, 0, 0, 0})
	fw.Write(fwcfg.PortDMALow-fwcfg.PortBase, binary.BigEndian.AppendUint32(nil, descAddr))
	return binary.BigEndian.Uint32(d[0:])
}

// SeaBIOS's vgabios-ramfb finds "etc/ramfb" in the fw_cfg directory and writes its framebuffer there by DMA; the
// device then reports that framebuffer.
func TestGuestConfiguresThroughFwCfg(t *testing.T) {
	ram, mem := newRAM(t)
	fw := fwcfg.New(mem, quiet)
	dev := New(mem, quiet)
	if err := dev.Attach(fw); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := dev.Current(); ok {
		t.Fatal("a framebuffer before the guest set one")
	}

	if c := dma(ram, fw, fwcfg.KeyFileDir<<16|dmaSelect|dmaRead, 4+64*8, bufAddr); c != 0 {
		t.Fatalf("directory read: control %#x", c)
	}
	var key uint16
	for i := range int(binary.BigEndian.Uint32(ram[bufAddr:])) {
		e := ram[bufAddr+4+64*i:]
		if string(e[8:18]) == "etc/ramfb\x00" {
			key = binary.BigEndian.Uint16(e[4:])
			if size := binary.BigEndian.Uint32(e[0:]); size != fwcfg.RAMFBConfigSize {
				t.Errorf("etc/ramfb is %d bytes, want %d", size, fwcfg.RAMFBConfigSize)
			}
		}
	}
	if key == 0 {
		t.Fatal("no etc/ramfb in the fw_cfg directory")
	}
	copy(ram[bufAddr:], config(fbAddr, FourCCXRGB8888, 1024, 768, 4096))
	if c := dma(ram, fw, uint32(key)<<16|dmaSelect|dmaWrite, fwcfg.RAMFBConfigSize, bufAddr); c != 0 {
		t.Fatalf("etc/ramfb write: control %#x", c)
	}
	fb, gen, ok := dev.Current()
	if want := (Framebuffer{Addr: fbAddr, Width: 1024, Height: 768, Stride: 4096}); !ok || fb != want || gen != 1 {
		t.Fatalf("after the guest's write: %+v (generation %d, set %v), want %+v", fb, gen, ok, want)
	}
}

// Every hostile configuration is refused with ErrRefused, and the framebuffer already in effect stays.
func TestHostileConfigurationsAreRefused(t *testing.T) {
	_, mem := newRAM(t)
	dev := New(mem, quiet)
	good := Framebuffer{Addr: fbAddr, Width: 640, Height: 480, Stride: 2560}
	if err := dev.Configure(config(fbAddr, FourCCXRGB8888, 640, 480, 2560)); err != nil {
		t.Fatal(err)
	}
	const xr24 = FourCCXRGB8888
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"short", config(fbAddr, xr24, 640, 480, 2560)[:27]},
		{"long", append(config(fbAddr, xr24, 640, 480, 2560), 0)},
		{"RGB565", config(fbAddr, 0x36314752, 640, 480, 1280)},
		{"format in the wrong byte order", config(fbAddr, 0x58523234, 640, 480, 2560)},
		{"zero width", config(fbAddr, xr24, 0, 480, 2560)},
		{"zero height", config(fbAddr, xr24, 640, 0, 2560)},
		{"too wide", config(fbAddr, xr24, MaxWidth+1, 1, 0)},
		{"too tall", config(fbAddr, xr24, 1, MaxHeight+1, 0)},
		{"huge", config(fbAddr, xr24, 0xffffffff, 0xffffffff, 0xffffffff)},
		{"stride shorter than a line", config(fbAddr, xr24, 640, 480, 2556)},
		{"stride too large", config(fbAddr, xr24, 640, 480, MaxStride+4)},
		{"past the end of RAM", config(testRAM-2560*479, xr24, 640, 480, 2560)},
		{"outside RAM", config(0xE000_0000, xr24, 640, 480, 2560)},
		{"wraps around", config(^uint64(0)-4095, xr24, 640, 480, 2560)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := dev.Configure(tc.raw)
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("Configure: %v, want ErrRefused", err)
			}
			if fb, _, ok := dev.Current(); !ok || fb != good {
				t.Fatalf("after a refused configuration: %+v (set %v), want the previous %+v", fb, ok, good)
			}
		})
	}
}

// A zero stride means packed lines, as QEMU reads it; ARGB shows as XRGB; an all-zero configuration turns the
// display off.
func TestStrideZeroARGBAndOff(t *testing.T) {
	_, mem := newRAM(t)
	dev := New(mem, quiet)
	if err := dev.Configure(config(fbAddr, FourCCARGB8888, 800, 600, 0)); err != nil {
		t.Fatal(err)
	}
	if fb, _, ok := dev.Current(); !ok || fb.Stride != 3200 {
		t.Fatalf("stride 0 gave %+v, want a stride of 3200", fb)
	}
	if err := dev.Configure(make([]byte, fwcfg.RAMFBConfigSize)); err != nil {
		t.Fatal(err)
	}
	if _, gen, ok := dev.Current(); ok || gen != 2 {
		t.Fatalf("after an all-zero configuration: set %v generation %d, want off at generation 2", ok, gen)
	}
}
