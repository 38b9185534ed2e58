package guests

import (
	"bytes"
	"encoding/binary"
	"os"
	"slices"
	"testing"
)

// A loader reads these setup-header fields (Documentation/arch/x86/boot.rst); each guest must carry them right.
func TestEveryGuestIsAValidBzImage(t *testing.T) {
	want := []string{"badinsn", "cpus", "echo", "fbflood", "fbpattern", "fbpoke", "hello", "kbdecho", "msix", "pci", "powerbutton", "reset", "smp", "tablet", "triplefault"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			img, err := os.ReadFile(Build(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if len(img) < 0x400 {
				t.Fatalf("image is %d bytes, shorter than its setup sectors", len(img))
			}
			u8 := func(off int) uint8 { return img[off] }
			u16 := func(off int) uint16 { return binary.LittleEndian.Uint16(img[off:]) }
			u32 := func(off int) uint32 { return binary.LittleEndian.Uint32(img[off:]) }
			u64 := func(off int) uint64 { return binary.LittleEndian.Uint64(img[off:]) }

			if got := u16(0x1fe); got != 0xaa55 {
				t.Errorf("boot_flag = %#x, want 0xaa55", got)
			}
			if got := img[0x202:0x206]; !bytes.Equal(got, []byte("HdrS")) {
				t.Errorf("header magic = %q, want HdrS", got)
			}
			if got := u16(0x206); got != 0x020f {
				t.Errorf("protocol version = %#x, want 0x020f", got)
			}
			setupSects := int(u8(0x1f1))
			if setupSects == 0 {
				t.Fatal("setup_sects = 0 (a loader would assume 4)")
			}
			kernelOff := (setupSects + 1) * 512
			kernelSize := len(img) - kernelOff
			if got, want := int(u32(0x1f4))*16, kernelSize; got < want || got-want >= 16 {
				t.Errorf("syssize*16 = %d, protected-mode part is %d bytes", got, want)
			}
			if got := u8(0x211); got&1 == 0 {
				t.Errorf("loadflags = %#x, LOADED_HIGH not set", got)
			}
			if got := u16(0x236); got&1 == 0 {
				t.Errorf("xloadflags = %#x, XLF_KERNEL_64 not set", got)
			}
			if got := u64(0x258); got != 0x100000 {
				t.Errorf("pref_address = %#x, want 0x100000", got)
			}
			if got := u32(0x230); got == 0 || got&(got-1) != 0 {
				t.Errorf("kernel_alignment = %#x, want a power of two", got)
			}
			if got := u32(0x238); got < 255 {
				t.Errorf("cmdline_size = %d, too small", got)
			}
			if got := int(u32(0x260)); got < kernelSize {
				t.Errorf("init_size = %d, less than the %d bytes loaded", got, kernelSize)
			}
			if info := int(u32(0x268)); info+16 > kernelSize || !bytes.Equal(img[kernelOff+info:kernelOff+info+4], []byte("LToP")) {
				t.Errorf("kernel_info_offset = %#x does not point at a kernel_info", info)
			}
			// The 64-bit entry, at +0x200 of the protected-mode part, starts with cli; cld.
			if kernelSize <= 0x200 || !bytes.Equal(img[kernelOff+0x200:kernelOff+0x202], []byte{0xfa, 0xfc}) {
				t.Errorf("no 64-bit entry at +0x200")
			}
		})
	}
}

func TestBuildUnknownGuest(t *testing.T) {
	if _, err := BuildIn(t.TempDir(), "no-such-guest"); err == nil {
		t.Fatal("BuildIn of an unknown guest succeeded")
	}
}
