package x86

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

type elfSeg struct {
	typ   uint32
	paddr uint64
	data  []byte
	memsz uint64
	align uint64
}

// makeELF builds an ELF64 x86-64 executable with the given program headers.
func makeELF(entry uint64, segs []elfSeg) []byte {
	le := binary.LittleEndian
	h := make([]byte, 64)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = 2, 1, 1
	le.PutUint16(h[16:], 2)
	le.PutUint16(h[18:], 62)
	le.PutUint32(h[20:], 1)
	le.PutUint64(h[24:], entry)
	le.PutUint64(h[32:], 64)
	le.PutUint16(h[52:], 64)
	le.PutUint16(h[54:], 56)
	le.PutUint16(h[56:], uint16(len(segs)))
	off := 64 + 56*len(segs)
	ph := make([]byte, 56*len(segs))
	var body []byte
	for i, s := range segs {
		p := ph[56*i:]
		le.PutUint32(p[0:], s.typ)
		le.PutUint64(p[8:], uint64(off+len(body)))
		le.PutUint64(p[16:], s.paddr)
		le.PutUint64(p[24:], s.paddr)
		le.PutUint64(p[32:], uint64(len(s.data)))
		le.PutUint64(p[40:], max(s.memsz, uint64(len(s.data))))
		le.PutUint64(p[48:], s.align)
		body = append(body, s.data...)
	}
	return append(append(h, ph...), body...)
}

func xenNote(typ uint32, desc []byte) []byte {
	le := binary.LittleEndian
	n := le.AppendUint32(nil, 4)
	n = le.AppendUint32(n, uint32(len(desc)))
	n = le.AppendUint32(n, typ)
	n = append(n, "Xen\x00"...)
	n = append(n, desc...)
	for len(n)%4 != 0 {
		n = append(n, 0)
	}
	return n
}

func gnuNote() []byte {
	le := binary.LittleEndian
	n := le.AppendUint32(nil, 4)
	n = le.AppendUint32(n, 20)
	n = le.AppendUint32(n, 3)
	n = append(n, "GNU\x00"...)
	return append(n, make([]byte, 20)...)
}

func TestLoadELFWithPVH(t *testing.T) {
	text := bytes.Repeat([]byte{0x90}, 5000)
	notes := append(gnuNote(), xenNote(18, binary.LittleEndian.AppendUint64(nil, 0x100_0040))...)
	img := makeELF(0x100_0000, []elfSeg{
		{typ: ptLoad, paddr: 0x100_0000, data: text, memsz: 0x3000},
		{typ: ptNote, data: notes, align: 4},
		{typ: ptLoad, paddr: 0x200_0000, data: []byte{1, 2, 3}, memsz: 0x10_0000},
	})
	mem := newMem(t, 128<<20)
	// Stale bytes where the second segment's BSS goes must be cleared.
	junk, _ := mem.Slice(0x200_0000, 0x1000)
	for i := range junk {
		junk[i] = 0xEE
	}
	initrd := []byte("initramfs contents")
	info, err := LoadKernel(mem, img, initrd, "console=hvc0", LoadOptions{RSDP: 0xE0000})
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != EntryPVH || info.Entry != 0x100_0040 || info.Params != PVHStartInfo {
		t.Fatalf("boot info %+v", info)
	}
	if got, _ := mem.Slice(0x100_0000, uint64(len(text))); !bytes.Equal(got, text) {
		t.Error("text segment not loaded")
	}
	if got, _ := mem.Slice(0x200_0000, 8); !bytes.Equal(got, []byte{1, 2, 3, 0, 0, 0, 0, 0}) {
		t.Errorf("second segment % x, want data then zeroes", got)
	}
	si := uint64(PVHStartInfo)
	if u32(t, mem, si) != 0x336EC578 || u32(t, mem, si+4) != 1 {
		t.Errorf("start info magic/version %#x/%d", u32(t, mem, si), u32(t, mem, si+4))
	}
	if u32(t, mem, si+12) != 1 {
		t.Fatalf("nr_modules = %d, want 1", u32(t, mem, si+12))
	}
	mod := u64(t, mem, si+16)
	if u64(t, mem, mod) != info.InitrdAddr || u64(t, mem, mod+8) != uint64(len(initrd)) {
		t.Errorf("module %#x+%d, want initrd %#x+%d", u64(t, mem, mod), u64(t, mem, mod+8), info.InitrdAddr, len(initrd))
	}
	if rd, _ := mem.Slice(info.InitrdAddr, uint64(len(initrd))); !bytes.Equal(rd, initrd) {
		t.Error("initrd not loaded")
	}
	cl := u64(t, mem, si+24)
	if line, _ := mem.Slice(cl, 13); string(line) != "console=hvc0\x00" {
		t.Errorf("command line %q", line)
	}
	if u64(t, mem, si+32) != 0xE0000 {
		t.Errorf("rsdp_paddr %#x", u64(t, mem, si+32))
	}
	mm, n := u64(t, mem, si+40), u32(t, mem, si+48)
	if n != 3 {
		t.Fatalf("memmap_entries = %d, want 3", n)
	}
	wantMap := []E820Entry{{0, EBDAStart, 1}, {EBDAStart, 0x10_0000 - EBDAStart, 2}, {0x10_0000, 127 << 20, 1}}
	for i, w := range wantMap {
		o := mm + uint64(24*i)
		if g := (E820Entry{u64(t, mem, o), u64(t, mem, o+8), u32(t, mem, o+16)}); g != w {
			t.Errorf("memmap[%d] = %+v, want %+v", i, g, w)
		}
	}
}

func TestLoadELF64Entry(t *testing.T) {
	img := makeELF(0x100_0000, []elfSeg{{typ: ptLoad, paddr: 0x100_0000, data: []byte{0xF4}, memsz: 0x1000},
		{typ: ptNote, data: gnuNote(), align: 4}})
	mem := newMem(t, 64<<20)
	info, err := LoadKernel(mem, img, nil, "quiet", LoadOptions{RSDP: 0xE0000})
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != Entry64 || info.Entry != 0x100_0000 || info.Params != ZeroPageAddr {
		t.Fatalf("boot info %+v", info)
	}
	zp := uint64(ZeroPageAddr)
	if u16(t, mem, zp+0x1FE) != 0xAA55 || u32(t, mem, zp+0x202) != 0x53726448 || mustByte(t, mem, zp+0x210) != 0xFF ||
		u32(t, mem, zp+0x228) != CmdlineAddr || u64(t, mem, zp+0x70) != 0xE0000 || len(readE820(t, mem)) != 3 {
		t.Error("zero page for the ELF 64-bit entry is incomplete")
	}
	if u64(t, mem, PML4Addr)&^0xFFF != PDPTAddr {
		t.Error("page tables not written for the 64-bit entry")
	}
}

func TestELFRejects(t *testing.T) {
	seg := func(paddr, memsz uint64) []byte {
		return makeELF(0x100_0000, []elfSeg{{typ: ptLoad, paddr: paddr, data: []byte{1}, memsz: memsz}})
	}
	cases := map[string]struct {
		data []byte
		why  string
	}{
		"below 1 MiB":      {seg(0x7000, 0x1000), "below 1 MiB"},
		"beyond RAM":       {seg(0x300_0000, 0x10_0000), "outside guest RAM"},
		"wraps":            {seg(0xFFFF_FFFF_FFFF_F000, 0x2000), "wraps"},
		"virtual entry":    {makeELF(0xFFFF_FFFF_8100_0000, []elfSeg{{typ: ptLoad, paddr: 0x100_0000, data: []byte{1}}}), "below 4 GiB"},
		"no loads":         {makeELF(0, []elfSeg{{typ: ptNote, data: gnuNote()}}), "no loadable segments"},
		"32-bit":           {func() []byte { b := seg(0x100_0000, 1); b[4] = 1; return b }(), "ELF64"},
		"arm64":            {func() []byte { b := seg(0x100_0000, 1); b[18] = 183; return b }(), "not x86-64"},
		"truncated phdrs":  {seg(0x100_0000, 1)[:80], "outside the file"},
		"truncated header": {[]byte("\x7fELF\x02\x01"), "no ELF header"},
	}
	for name, c := range cases {
		_, err := LoadKernel(newMem(t, 32<<20), c.data, nil, "", LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: err = %v, want one mentioning %q", name, err, c.why)
		}
		if name == "32-bit" && !errors.Is(err, errNotELF) {
			t.Errorf("%s: error does not say it is not a bootable ELF", name)
		}
	}
	// A hostile note size must not be followed out of the segment.
	bad := xenNote(18, []byte{0, 0, 0, 1})
	binary.LittleEndian.PutUint32(bad[4:], 0xFFFF_FFF0)
	img := makeELF(0x100_0000, []elfSeg{{typ: ptLoad, paddr: 0x100_0000, data: []byte{1}}, {typ: ptNote, data: bad}})
	info, err := LoadKernel(newMem(t, 32<<20), img, nil, "", LoadOptions{})
	if err != nil || info.Kind != Entry64 {
		t.Errorf("bad note: kind %v err %v, want the note ignored", info.Kind, err)
	}
}

// FuzzParseELF: hostile ELF files never panic and never load outside guest RAM.
func FuzzParseELF(f *testing.F) {
	f.Add(makeELF(0x100_0000, []elfSeg{{typ: ptLoad, paddr: 0x100_0000, data: []byte{0xF4}, memsz: 0x1000},
		{typ: ptNote, data: append(gnuNote(), xenNote(18, []byte{0x40, 0, 0, 1})...), align: 4}}))
	f.Add(makeELF(0x100_0000, []elfSeg{{typ: ptNote, data: xenNote(18, []byte{1, 2}), align: 8}}))
	f.Add([]byte("\x7fELF"))
	mem := newMem(f, 16<<20)
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := ParseELF(data)
		if err == nil {
			for _, s := range img.Segments {
				if s.Offset+s.FileSize > uint64(len(data)) || s.FileSize > s.MemSize {
					t.Fatalf("accepted segment %+v of a %d-byte file", s, len(data))
				}
			}
		}
		_, _ = LoadKernel(mem, data, []byte("rd"), "console=ttyS0", LoadOptions{})
	})
}
