package x86

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"paddock/engine/guestmem"
)

// bzParams are the header fields a synthetic bzImage is built with.
type bzParams struct {
	version       uint16
	setupSects    byte
	kernelLen     int
	pref          uint64
	align         uint32
	initSize      uint32
	cmdlineSize   uint32
	initrdAddrMax uint32
	xloadflags    uint16
	relocatable   bool
}

func defaultBz() bzParams {
	return bzParams{version: 0x020F, setupSects: 0, kernelLen: 64 << 10, pref: 0x100_0000, align: 0x20_0000,
		initSize: 8 << 20, cmdlineSize: 2047, initrdAddrMax: 0x7FFF_FFFF, xloadflags: 0x1 | 0x2 | 0x8, relocatable: true}
}

// makeBzImage builds a file with a real-looking setup header and a recognisable protected-mode kernel.
func makeBzImage(p bzParams) []byte {
	sects := int(p.setupSects)
	if sects == 0 {
		sects = 4
	}
	setup := (sects + 1) * 512
	f := make([]byte, setup+p.kernelLen)
	le := binary.LittleEndian
	f[hdrSetupSects] = p.setupSects
	le.PutUint32(f[hdrSysSize:], uint32((p.kernelLen+15)/16))
	le.PutUint16(f[hdrBootFlag:], 0xAA55)
	f[hdrJump], f[hdrJump+1] = 0xEB, byte(hdrEnd-0x202) // jmp over the header
	copy(f[hdrMagic:], "HdrS")
	le.PutUint16(f[hdrVersion:], p.version)
	f[hdrLoadFlags] = loadFlagLoadedHigh
	le.PutUint32(f[hdrCode32Start:], 0x10_0000)
	le.PutUint32(f[hdrInitrdAddrMax:], p.initrdAddrMax)
	le.PutUint32(f[hdrKernelAlignment:], p.align)
	if p.relocatable {
		f[hdrRelocatable] = 1
	}
	le.PutUint16(f[hdrXLoadFlags:], p.xloadflags)
	le.PutUint32(f[hdrCmdlineSize:], p.cmdlineSize)
	le.PutUint64(f[hdrPrefAddress:], p.pref)
	le.PutUint32(f[hdrInitSize:], p.initSize)
	for i := setup; i < len(f); i++ {
		f[i] = byte(i * 7)
	}
	// Pad the kernel to whole paragraphs, as the build does.
	for len(f) < setup+((p.kernelLen+15)/16)*16 {
		f = append(f, 0)
	}
	return f
}

func newMem(t testing.TB, size uint64) *guestmem.Memory {
	t.Helper()
	mem, err := guestmem.New(guestmem.Region{GPA: 0, Host: make([]byte, size)})
	if err != nil {
		t.Fatal(err)
	}
	return mem
}

func u16(t *testing.T, mem *guestmem.Memory, a uint64) uint16 {
	t.Helper()
	v, err := mem.U16(a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func u32(t *testing.T, mem *guestmem.Memory, a uint64) uint32 {
	t.Helper()
	v, err := mem.U32(a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func u64(t *testing.T, mem *guestmem.Memory, a uint64) uint64 {
	t.Helper()
	v, err := mem.U64(a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func readE820(t *testing.T, mem *guestmem.Memory) []E820Entry {
	t.Helper()
	n, err := mem.Slice(ZeroPageAddr+0x1E8, 1)
	if err != nil {
		t.Fatal(err)
	}
	var out []E820Entry
	for i := 0; i < int(n[0]); i++ {
		o := uint64(ZeroPageAddr + 0x2D0 + 20*i)
		out = append(out, E820Entry{Addr: u64(t, mem, o), Size: u64(t, mem, o+8), Type: u32(t, mem, o+16)})
	}
	return out
}

func TestLoadBzImageZeroPage(t *testing.T) {
	const ram = 512 << 20
	mem := newMem(t, ram)
	p := defaultBz()
	img := makeBzImage(p)
	initrd := bytes.Repeat([]byte("initrd!"), 150_000) // ~1 MiB, not page sized
	cmdline := "console=ttyS0 root=/dev/vda quiet"
	info, err := LoadKernel(mem, img, initrd, cmdline, LoadOptions{RSDP: 0xE0000})
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != Entry64 || info.KernelStart != 0x100_0000 || info.Entry != 0x100_0200 || info.Params != ZeroPageAddr {
		t.Fatalf("boot info %+v", info)
	}
	if info.KernelEnd != 0x100_0000+uint64(p.initSize) {
		t.Errorf("kernel end %#x, want load + init_size", info.KernelEnd)
	}
	got, _ := mem.Slice(0x100_0000, uint64(p.kernelLen))
	if !bytes.Equal(got, img[5*512:5*512+p.kernelLen]) {
		t.Error("protected-mode kernel not copied to its load address")
	}
	zp := uint64(ZeroPageAddr)
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"setup_sects", uint64(mustByte(t, mem, zp+0x1F1)), 0},
		{"boot_flag", uint64(u16(t, mem, zp+0x1FE)), 0xAA55},
		{"header", uint64(u32(t, mem, zp+0x202)), 0x53726448},
		{"version", uint64(u16(t, mem, zp+0x206)), 0x020F},
		{"type_of_loader", uint64(mustByte(t, mem, zp+0x210)), 0xFF},
		{"loadflags", uint64(mustByte(t, mem, zp+0x211)), 0x81},
		{"code32_start", uint64(u32(t, mem, zp+0x214)), 0x100_0000},
		{"ramdisk_image", uint64(u32(t, mem, zp+0x218)), info.InitrdAddr},
		{"ramdisk_size", uint64(u32(t, mem, zp+0x21C)), uint64(len(initrd))},
		{"heap_end_ptr", uint64(u16(t, mem, zp+0x224)), 0xFE00},
		{"cmd_line_ptr", uint64(u32(t, mem, zp+0x228)), CmdlineAddr},
		{"ext_cmd_line_ptr", uint64(u32(t, mem, zp+0x0C8)), 0},
		{"ext_ramdisk_image", uint64(u32(t, mem, zp+0x0C0)), 0},
		{"initrd_addr_max", uint64(u32(t, mem, zp+0x22C)), 0x7FFF_FFFF},
		{"kernel_alignment", uint64(u32(t, mem, zp+0x230)), 0x20_0000},
		{"cmdline_size", uint64(u32(t, mem, zp+0x238)), 2047},
		{"hardware_subarch", uint64(u32(t, mem, zp+0x23C)), 0},
		{"pref_address", u64(t, mem, zp+0x258), 0x100_0000},
		{"init_size", uint64(u32(t, mem, zp+0x260)), uint64(p.initSize)},
		{"acpi_rsdp_addr", u64(t, mem, zp+0x070), 0xE0000},
		{"sentinel", uint64(mustByte(t, mem, zp+0x1EF)), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	line, _ := mem.Slice(CmdlineAddr, uint64(len(cmdline)+1))
	if string(line) != cmdline+"\x00" {
		t.Errorf("command line in memory %q", line)
	}
	// The initrd sits as high as it goes: the last page-aligned spot below the top of RAM.
	wantInitrd := uint64(ram-len(initrd)) &^ 0xFFF
	if info.InitrdAddr != wantInitrd || info.InitrdSize != uint64(len(initrd)) {
		t.Errorf("initrd at %#x+%#x, want %#x", info.InitrdAddr, info.InitrdSize, wantInitrd)
	}
	rd, _ := mem.Slice(info.InitrdAddr, info.InitrdSize)
	if !bytes.Equal(rd, initrd) {
		t.Error("initrd contents differ")
	}
	want := []E820Entry{{0, EBDAStart, E820RAM}, {EBDAStart, 0x10_0000 - EBDAStart, E820Reserved},
		{0x10_0000, ram - 0x10_0000, E820RAM}}
	if got := readE820(t, mem); !equalE820(got, want) {
		t.Errorf("e820 %+v, want %+v", got, want)
	}
}

func mustByte(t *testing.T, mem *guestmem.Memory, a uint64) byte {
	t.Helper()
	b, err := mem.Slice(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	return b[0]
}

func equalE820(a, b []E820Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestE820WithMMIOHole(t *testing.T) {
	// 5 GiB of RAM: 3 GiB below the hole, 2 GiB from 4 GiB.
	got, err := memoryMapOf([]guestmem.Range{{GPA: 0, Size: MMIOHoleStart}, {GPA: HighRAMStart, Size: 2 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	want := []E820Entry{{0, EBDAStart, E820RAM}, {EBDAStart, 0x10_0000 - EBDAStart, E820Reserved},
		{0x10_0000, MMIOHoleStart - 0x10_0000, E820RAM}, {HighRAMStart, 2 << 30, E820RAM}}
	if !equalE820(got, want) {
		t.Fatalf("e820 %+v\nwant %+v", got, want)
	}
	// A region reaching into the hole is cut at its start: the hole is never RAM.
	got, err = memoryMapOf([]guestmem.Range{{GPA: 0, Size: HighRAMStart + 1<<20}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got {
		if e.Type == E820RAM && e.Addr < HighRAMStart && e.End() > MMIOHoleStart {
			t.Errorf("RAM entry %+v overlaps the MMIO hole", e)
		}
	}
}

func TestLoadBzImageLargeMemory(t *testing.T) {
	mem, err := guestmem.Allocate(guestmem.Range{GPA: 0, Size: MMIOHoleStart}, guestmem.Range{GPA: HighRAMStart, Size: 1 << 30})
	if err != nil {
		t.Skipf("cannot reserve 4 GiB of address space: %v", err)
	}
	defer mem.Close()
	initrd := make([]byte, 3<<20)
	info, err := LoadKernel(mem, makeBzImage(defaultBz()), initrd, "", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// initrd_addr_max (0x7FFFFFFF) binds before the top of low RAM (3 GiB).
	if info.InitrdAddr != 0x8000_0000-3<<20 {
		t.Errorf("initrd at %#x, want just below 2 GiB", info.InitrdAddr)
	}
	e := readE820(t, mem)
	if len(e) != 4 || e[3] != (E820Entry{HighRAMStart, 1 << 30, E820RAM}) || e[2].End() != MMIOHoleStart {
		t.Errorf("e820 %+v", e)
	}
}

func TestInitrdPlacement(t *testing.T) {
	p := defaultBz()
	p.initrdAddrMax = 0x0FFF_FFFF // 256 MiB
	mem := newMem(t, 512<<20)
	info, err := LoadKernel(mem, makeBzImage(p), make([]byte, 5000), "", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.InitrdAddr != 0x1000_0000-0x2000 {
		t.Errorf("initrd at %#x, want %#x (below initrd_addr_max, page aligned)", info.InitrdAddr, 0x1000_0000-0x2000)
	}
	// Too large for the room between the kernel and the top of RAM.
	mem = newMem(t, 64<<20)
	_, err = LoadKernel(mem, makeBzImage(defaultBz()), make([]byte, 50<<20), "", LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "initrd of 50 MiB does not fit") {
		t.Errorf("oversized initrd: err = %v", err)
	}
}

func TestCmdlineLimit(t *testing.T) {
	p := defaultBz()
	p.cmdlineSize = 100
	img := makeBzImage(p)
	if _, err := LoadKernel(newMem(t, 64<<20), img, nil, strings.Repeat("x", 100), LoadOptions{}); err != nil {
		t.Errorf("command line of exactly cmdline_size: %v", err)
	}
	_, err := LoadKernel(newMem(t, 64<<20), img, nil, strings.Repeat("x", 101), LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "longer than the kernel's limit of 100") {
		t.Errorf("command line too long: err = %v", err)
	}
	if _, err := LoadKernel(newMem(t, 64<<20), img, nil, "a\x00b", LoadOptions{}); err == nil {
		t.Error("a NUL in the command line was accepted")
	}
}

func TestKernelPlacement(t *testing.T) {
	p := defaultBz()
	p.pref = 0x123_4567 // not aligned: a relocatable kernel goes to the next 2 MiB boundary
	info, err := LoadKernel(newMem(t, 64<<20), makeBzImage(p), nil, "", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.KernelStart != 0x140_0000 || info.Entry != 0x140_0200 {
		t.Errorf("kernel at %#x entry %#x, want 0x1400000/0x1400200", info.KernelStart, info.Entry)
	}
	// init_size beyond guest RAM is refused before anything overlaps.
	p = defaultBz()
	p.initSize = 100 << 20
	_, err = LoadKernel(newMem(t, 64<<20), makeBzImage(p), nil, "", LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "init_size") {
		t.Errorf("init_size beyond RAM: err = %v", err)
	}
	// A non-relocatable kernel asking for low memory would overwrite the zero page.
	p = defaultBz()
	p.relocatable, p.pref = false, 0x8000
	if _, err := LoadKernel(newMem(t, 64<<20), makeBzImage(p), nil, "", LoadOptions{}); err == nil {
		t.Error("a non-relocatable kernel below 1 MiB was accepted")
	}
}

func TestNotABzImage(t *testing.T) {
	good := makeBzImage(defaultBz())
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := map[string]struct {
		data []byte
		why  string
	}{
		"empty":          {nil, "too short"},
		"text file":      {bytes.Repeat([]byte("hello world\n"), 100), "boot flag"},
		"no HdrS":        {mutate(func(b []byte) []byte { copy(b[hdrMagic:], "XXXX"); return b }), "HdrS"},
		"old protocol":   {mutate(func(b []byte) []byte { b[hdrVersion] = 0x0B; return b }), "boot protocol 2.11"},
		"32-bit only":    {mutate(func(b []byte) []byte { b[hdrXLoadFlags] = 0; return b }), "XLF_KERNEL_64"},
		"zImage":         {mutate(func(b []byte) []byte { b[hdrLoadFlags] = 0; return b }), "zImage"},
		"truncated":      {good[:len(good)-100], "truncated"},
		"header only":    {good[:hdrEnd], "truncated"},
		"bad alignment":  {mutate(func(b []byte) []byte { b[hdrKernelAlignment] = 3; return b }), "power of two"},
		"syssize zero":   {mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[hdrSysSize:], 0); return b }), "syssize"},
		"huge setup len": {mutate(func(b []byte) []byte { b[hdrSetupSects] = 0xFF; return b[:0x1000] }), "truncated"},
	}
	for name, c := range cases {
		_, err := LoadKernel(newMem(t, 64<<20), c.data, nil, "", LoadOptions{})
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !errors.Is(err, errNotBzImage) || !strings.HasPrefix(err.Error(), "not a Linux bzImage: ") || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: error %q, want \"not a Linux bzImage: ...%s...\"", name, err, c.why)
		}
	}
}

func TestScreenInfo(t *testing.T) {
	mem := newMem(t, 64<<20)
	fb := &Framebuffer{Base: FramebufferStart, Size: 1280 * 800 * 4, Width: 1280, Height: 800, Stride: 1280 * 4}
	if _, err := LoadKernel(mem, makeBzImage(defaultBz()), nil, "", LoadOptions{Framebuffer: fb}); err != nil {
		t.Fatal(err)
	}
	si, _ := mem.Slice(ZeroPageAddr, 0x40)
	le := binary.LittleEndian
	if si[0x0F] != 0x23 || le.Uint16(si[0x12:]) != 1280 || le.Uint16(si[0x14:]) != 800 || le.Uint16(si[0x16:]) != 32 ||
		le.Uint32(si[0x18:]) != FramebufferStart || le.Uint32(si[0x1C:]) != (1280*800*4+0xFFFF)>>16 ||
		le.Uint16(si[0x24:]) != 5120 || !bytes.Equal(si[0x26:0x2E], []byte{8, 16, 8, 8, 8, 0, 0, 0}) {
		t.Errorf("screen_info % x", si)
	}
	if err := WriteScreenInfo(mem, ZeroPageAddr, Framebuffer{Base: FramebufferStart, Size: 100, Width: 1280, Height: 800, Stride: 5120}); err == nil {
		t.Error("a framebuffer smaller than its lines was accepted")
	}
	if err := WriteScreenInfo(mem, ZeroPageAddr, Framebuffer{Base: FramebufferStart, Size: 1 << 20, Width: 100, Height: 100, Stride: 100}); err == nil {
		t.Error("a stride below width*4 was accepted")
	}
}

// FuzzParseBzImage feeds hostile files through the whole loader: it must return an error or succeed, never panic,
// and never write outside guest RAM.
func FuzzParseBzImage(f *testing.F) {
	f.Add(makeBzImage(defaultBz()))
	p := defaultBz()
	p.setupSects, p.kernelLen = 1, 100
	f.Add(makeBzImage(p))
	f.Add([]byte{})
	f.Add(makeBzImage(defaultBz())[:0x300])
	mem := newMem(f, 16<<20)
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseBzImage(data)
		if err == nil && uint64(h.SetupSize())+h.KernelSize() > uint64(len(data)) {
			t.Fatalf("accepted a header promising more than the file holds")
		}
		_, _ = LoadKernel(mem, data, []byte("rd"), "console=ttyS0", LoadOptions{})
	})
}
