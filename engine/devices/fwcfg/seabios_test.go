package fwcfg

import (
	"encoding/binary"
	"strings"
	"testing"
)

func TestCPUsE820AndBootOptions(t *testing.T) {
	dr := newDriver(t)
	if err := dr.dev.SetCPUs(2, 4); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if n := le.Uint16(dr.dmaRead(KeyNBCPUs, 2)); n != 2 {
		t.Errorf("NB_CPUS = %d", n)
	}
	if n := le.Uint16(dr.dmaRead(KeyMaxCPUs, 2)); n != 4 {
		t.Errorf("MAX_CPUS = %d", n)
	}
	if b, _, _ := dr.file(FileBootCPUs); len(b) != 2 || le.Uint16(b) != 2 {
		t.Errorf("etc/boot-cpus = %v", b)
	}
	for _, c := range [][2]int{{0, 1}, {3, 2}, {1, 70000}} {
		if err := dr.dev.SetCPUs(c[0], c[1]); err == nil {
			t.Errorf("SetCPUs(%d, %d) accepted", c[0], c[1])
		}
	}

	e820 := []E820Entry{
		{0, 0xC000_0000, E820RAM},
		{0xFFFB_C000, 0x4000, E820Reserved},
		{0x1_0000_0000, 0x4000_0000, E820RAM},
	}
	if err := dr.dev.SetE820(e820); err != nil {
		t.Fatal(err)
	}
	b, _, _ := dr.file(FileE820)
	if len(b) != 3*20 {
		t.Fatalf("etc/e820 is %d bytes, want 60", len(b))
	}
	for i, e := range e820 {
		r := b[i*20:]
		got := E820Entry{le.Uint64(r), le.Uint64(r[8:]), le.Uint32(r[16:])}
		if got != e {
			t.Errorf("entry %d = %+v, want %+v", i, got, e)
		}
	}
	if err := dr.dev.SetE820([]E820Entry{{^uint64(0), 2, E820RAM}}); err == nil {
		t.Error("a wrapping e820 entry was accepted")
	}

	paths := []string{SCSIBootPath(3, 0, 0, 0), PCIBootPath(5, 0), PCIBootPath(6, 2)}
	if paths[0] != "/pci@i0cf8/scsi@3/channel@0/disk@0,0" || paths[1] != "/pci@i0cf8/disk@5" ||
		paths[2] != "/pci@i0cf8/disk@6,2" {
		t.Fatalf("boot paths %q", paths)
	}
	if err := dr.dev.SetBootOrder(paths); err != nil {
		t.Fatal(err)
	}
	b, _, _ = dr.file(FileBootOrder)
	if string(b) != strings.Join(paths, "\n")+"\x00" {
		t.Fatalf("bootorder = %q", b)
	}
	for _, bad := range [][]string{{""}, {"a\nb"}, {"a\x00"}} {
		if err := dr.dev.SetBootOrder(bad); err == nil {
			t.Errorf("SetBootOrder(%q) accepted", bad)
		}
	}

	if err := dr.dev.SetBootMenu(true, 3000); err != nil {
		t.Fatal(err)
	}
	if v := le.Uint16(dr.dmaRead(KeyBootMenu, 2)); v != 1 {
		t.Errorf("BOOT_MENU = %d", v)
	}
	if b, _, _ := dr.file(FileBootMenuWait); le.Uint16(b) != 3000 {
		t.Errorf("boot-menu-wait = %v", b)
	}
	if err := dr.dev.SetBootFailWait(5000); err != nil {
		t.Fatal(err)
	}
	if b, _, _ := dr.file(FileBootFailWait); len(b) != 4 || le.Uint32(b) != 5000 {
		t.Errorf("boot-fail-wait = %v", b)
	}
}

// SeaBIOS's globs for a device must match the paths the helpers build (boot.c's glob_prefix: '*' matches up to
// the next '/' or the glob's next character, and a match is a prefix ending at '/' or the end).
func TestBootPathsMatchSeaBIOSGlobs(t *testing.T) {
	glob := func(g, s string) bool {
		for {
			if g == "" {
				return s == "" || s[0] == '/'
			}
			if g[0] == '*' {
				if s == "" || s[0] == '/' || (len(g) > 1 && s[0] == g[1]) {
					g = g[1:]
				} else {
					s = s[1:]
				}
				continue
			}
			if s == "" || g[0] != s[0] {
				return false
			}
			g, s = g[1:], s[1:]
		}
	}
	cases := []struct {
		glob, path string
		want       bool
	}{
		{"/pci@i0cf8/*@5", PCIBootPath(5, 0), true},
		{"/pci@i0cf8/*@5", PCIBootPath(0x15, 0), false},
		{"/pci@i0cf8/*@6,2", PCIBootPath(6, 2), true},
		{"/pci@i0cf8/*@3/*@0/*@0,0", SCSIBootPath(3, 0, 0, 0), true},
		{"/pci@i0cf8/*@3/*@0/*@1,0", SCSIBootPath(3, 0, 0, 0), false},
	}
	for _, c := range cases {
		if got := glob(c.glob, c.path); got != c.want {
			t.Errorf("glob %q vs %q = %v, want %v", c.glob, c.path, got, c.want)
		}
	}
}

func TestSeaBIOSCMOS(t *testing.T) {
	c := SeaBIOSCMOS(0xC000_0000, 0x4000_0000, 4)
	// SeaBIOS's qemu_preinit: RAM below 4 GiB is the 64 KiB units at 0x34/0x35 plus 16 MiB.
	low := (uint64(c[0x34])<<16 | uint64(c[0x35])<<24) + 16<<20
	if low != 0xC000_0000 {
		t.Errorf("low RAM from CMOS = %#x", low)
	}
	high := uint64(c[0x5b])<<16 | uint64(c[0x5c])<<24 | uint64(c[0x5d])<<32
	if high != 0x4000_0000 {
		t.Errorf("high RAM from CMOS = %#x", high)
	}
	if c[0x5f] != 3 {
		t.Errorf("SMP count byte = %d, want CPUs-1", c[0x5f])
	}
	if ext := uint64(c[0x30]) | uint64(c[0x31])<<8; ext != 0xffff {
		t.Errorf("extended memory KiB = %#x, want capped at 0xffff", ext)
	}
	// A small guest: under 16 MiB the first counter alone holds it.
	c = SeaBIOSCMOS(8<<20, 0, 1)
	if ext := (uint64(c[0x30])<<10 | uint64(c[0x31])<<18) + 1<<20; ext != 8<<20 || c[0x34] != 0 || c[0x35] != 0 {
		t.Errorf("8 MiB guest: extmem %#x, extmem2 %d/%d", ext, c[0x34], c[0x35])
	}
}
