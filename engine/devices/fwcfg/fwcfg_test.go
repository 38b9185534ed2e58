package fwcfg

import (
	"bytes"
	"encoding/binary"
	"strings"
	"sync"
	"testing"
)

func TestSignatureAndID(t *testing.T) {
	dr := newDriver(t)
	dr.selectKey(KeySignature)
	if got := dr.readPort(6); string(got) != "QEMU\x00\x00" {
		t.Fatalf("signature then past its end = %q, want \"QEMU\" then zeros", got)
	}
	id := binary.LittleEndian.Uint32(dr.dmaRead(KeyID, 4))
	if id != FeatureTraditional|FeatureDMA {
		t.Fatalf("ID = %#x, want traditional and DMA", id)
	}
	sig := make([]byte, 8)
	for i := range sig {
		dr.dev.Read(PortDMAHigh-PortBase+uint64(i), sig[i:i+1])
	}
	if string(sig) != "QEMU CFG" {
		t.Fatalf("DMA register reads %q, want \"QEMU CFG\"", sig)
	}
	if base, size, dev := dr.dev.IOPorts(); base != 0x510 || size != 12 || dev != dr.dev {
		t.Fatalf("IOPorts = %#x+%d", base, size)
	}
}

func TestDirectoryIsSortedAndFilesReadByName(t *testing.T) {
	dr := newDriver(t)
	files := map[string]string{"etc/zeta": "last", "bootorder": "/pci@i0cf8/disk@5\x00", "etc/alpha": "first one"}
	for _, name := range []string{"etc/zeta", "bootorder", "etc/alpha"} {
		if err := dr.dev.AddFile(name, []byte(files[name])); err != nil {
			t.Fatal(err)
		}
	}
	dir := dr.directory()
	var names []string
	for _, e := range dir {
		names = append(names, e.name)
		if e.key < KeyFileFirst {
			t.Errorf("file %q has key %#x, below the file range", e.name, e.key)
		}
	}
	if strings.Join(names, ",") != "bootorder,etc/alpha,etc/zeta" {
		t.Fatalf("directory = %v, want sorted by name", names)
	}
	for name, want := range files {
		got, _, ok := dr.file(name)
		if !ok || string(got) != want {
			t.Fatalf("file %q = %q (found %v), want %q", name, got, ok, want)
		}
	}
	if _, _, ok := dr.file("etc/missing"); ok {
		t.Fatal("found a file that was never added")
	}

	// Replacing a file keeps its key and updates the size in the directory.
	_, key, _ := dr.file("etc/alpha")
	if err := dr.dev.AddFile("etc/alpha", []byte("x")); err != nil {
		t.Fatal(err)
	}
	got, key2, _ := dr.file("etc/alpha")
	if string(got) != "x" || key2 != key || len(dr.directory()) != 3 {
		t.Fatalf("replaced file = %q key %#x (was %#x), %d entries", got, key2, key, len(dr.directory()))
	}
}

func TestAddRefusesBadInput(t *testing.T) {
	dr := newDriver(t)
	for _, name := range []string{"", strings.Repeat("n", FileNameSize), "a\x00b"} {
		if err := dr.dev.AddFile(name, nil); err == nil {
			t.Errorf("AddFile(%q) accepted", name)
		}
	}
	if err := dr.dev.AddFile(strings.Repeat("n", FileNameSize-1), nil); err != nil {
		t.Errorf("a %d-byte name was refused: %v", FileNameSize-1, err)
	}
	for _, key := range []uint16{KeySignature, KeyID, KeyFileDir, KeyFileFirst, 0x4000 | KeyID} {
		if err := dr.dev.AddBytes(key, []byte{1}); err == nil {
			t.Errorf("AddBytes(%#x) accepted", key)
		}
	}
	if err := dr.dev.AddFile("big", make([]byte, MaxItemSize+1)); err == nil {
		t.Error("an oversized file was accepted")
	}
	dr.selectKey(KeySignature)
	if got := dr.readPort(4); string(got) != "QEMU" {
		t.Fatalf("signature changed to %q", got)
	}
}

func TestPortReadsByteByByte(t *testing.T) {
	dr := newDriver(t)
	if err := dr.dev.AddBytes(KeyNBCPUs, []byte{4, 0}); err != nil {
		t.Fatal(err)
	}
	dr.selectKey(KeyNBCPUs)
	if got := dr.readPort(1); got[0] != 4 {
		t.Fatalf("first byte %d", got[0])
	}
	if key, off := dr.dev.Selected(); key != KeyNBCPUs || off != 1 {
		t.Fatalf("selected %#x offset %d, want %#x offset 1", key, off, KeyNBCPUs)
	}
	if got := dr.readPort(3); !bytes.Equal(got, []byte{0, 0, 0}) {
		t.Fatalf("rest and past the end = %v", got)
	}
	// Selecting again starts over; the write-channel bit names the same item.
	dr.selectKey(0x4000 | KeyNBCPUs)
	if got := dr.readPort(2); !bytes.Equal(got, []byte{4, 0}) {
		t.Fatalf("after re-select = %v", got)
	}
	// Absent items read as zeros (SeaBIOS probes several).
	dr.selectKey(KeyE820Reservable)
	if got := dr.readPort(4); !bytes.Equal(got, []byte{0, 0, 0, 0}) {
		t.Fatalf("absent item = %v", got)
	}
	// Writes to the data port change nothing.
	dr.selectKey(KeyNBCPUs)
	dr.dev.Write(PortData-PortBase, []byte{9})
	if got := dr.readPort(1); got[0] != 4 {
		t.Fatalf("data port write changed the item: %d", got[0])
	}
}

func TestDMASelectSkipAndRead(t *testing.T) {
	dr := newDriver(t)
	data := []byte("0123456789abcdef")
	if err := dr.dev.AddFile("etc/data", data); err != nil {
		t.Fatal(err)
	}
	_, key, _ := dr.file("etc/data")

	// Select and skip 4, then read 4: the second transfer continues where the first stopped.
	if c := dr.dma(uint32(key)<<16|dmaSelect|dmaSkip, 4, 0); c != 0 {
		t.Fatalf("skip: control %#x", c)
	}
	if c := dr.dma(dmaRead, 4, bufAddr); c != 0 || string(dr.ram[bufAddr:bufAddr+4]) != "4567" {
		t.Fatalf("read after skip: control %#x, data %q", c, dr.ram[bufAddr:bufAddr+4])
	}
	// A read running past the end gets the rest and then zeros.
	for i := bufAddr; i < bufAddr+16; i++ {
		dr.ram[i] = 0xaa
	}
	if c := dr.dma(dmaRead, 12, bufAddr); c != 0 {
		t.Fatalf("read past end: control %#x", c)
	}
	want := append([]byte("89abcdef"), 0, 0, 0, 0, 0xaa, 0xaa, 0xaa, 0xaa)
	if got := dr.ram[bufAddr : bufAddr+16]; !bytes.Equal(got, want) {
		t.Fatalf("read past end = %q, want %q", got, want)
	}
	// Select in the same descriptor moves to another item from its start.
	if got := dr.dmaRead(KeySignature, 4); string(got) != "QEMU" {
		t.Fatalf("select+read signature = %q", got)
	}
	// Select alone, then the data port carries on from offset 0.
	if c := dr.dma(uint32(key)<<16|dmaSelect, 0, 0); c != 0 {
		t.Fatalf("select only: control %#x", c)
	}
	if got := dr.readPort(2); string(got) != "01" {
		t.Fatalf("port read after DMA select = %q", got)
	}
	// A skip past the end is harmless and leaves nothing to read.
	if c := dr.dma(dmaSkip, 1000, 0); c != 0 {
		t.Fatalf("long skip: control %#x", c)
	}
	if got := dr.readPort(1); got[0] != 0 {
		t.Fatalf("read after long skip = %d", got[0])
	}
}

func TestDMAWriteToRAMFB(t *testing.T) {
	dr := newDriver(t)
	var mu sync.Mutex
	var writes [][]byte
	err := dr.dev.AddWritableFile(FileRAMFB, RAMFBConfigSize, func(b []byte) {
		mu.Lock()
		writes = append(writes, b)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	_, key, ok := dr.file(FileRAMFB)
	if !ok {
		t.Fatal("etc/ramfb not in the directory")
	}
	cfg := make([]byte, RAMFBConfigSize)
	be := binary.BigEndian
	be.PutUint64(cfg[0:], 0xE000_0000)
	be.PutUint32(cfg[8:], FourCCXRGB8888)
	be.PutUint32(cfg[16:], 1024)
	be.PutUint32(cfg[20:], 768)
	be.PutUint32(cfg[24:], 4096)
	copy(dr.ram[bufAddr:], cfg)
	if c := dr.dma(uint32(key)<<16|dmaSelect|dmaWrite, RAMFBConfigSize, bufAddr); c != 0 {
		t.Fatalf("ramfb write: control %#x", c)
	}
	if len(writes) != 1 || !bytes.Equal(writes[0], cfg) {
		t.Fatalf("callback got %x, want %x", writes, cfg)
	}
	got, err := ParseRAMFBConfig(writes[0])
	if err != nil {
		t.Fatal(err)
	}
	if got != (RAMFBConfig{Addr: 0xE000_0000, FourCC: binary.LittleEndian.Uint32([]byte("XR24")), Width: 1024, Height: 768, Stride: 4096}) {
		t.Fatalf("parsed %+v", got)
	}
	// The file reads back what was written.
	if back, _, _ := dr.file(FileRAMFB); !bytes.Equal(back, cfg) {
		t.Fatalf("read back %x", back)
	}
	// A partial write after a skip patches in place; the callback sees the whole file.
	copy(dr.ram[bufAddr:], []byte{0, 0, 0, 0, 0, 0, 0x03, 0x20})
	if c := dr.dma(uint32(key)<<16|dmaSelect|dmaSkip, 16, 0); c != 0 {
		t.Fatalf("skip: %#x", c)
	}
	if c := dr.dma(dmaWrite, 4, bufAddr+4); c != 0 {
		t.Fatalf("partial write: %#x", c)
	}
	if p, _ := ParseRAMFBConfig(writes[len(writes)-1]); len(writes) != 2 || p.Width != 800 || p.Height != 768 {
		t.Fatalf("after partial write: %d callbacks, %+v", len(writes), p)
	}
	// A write running past the end fails whole and tells nobody.
	if c := dr.dma(uint32(key)<<16|dmaSelect|dmaWrite, RAMFBConfigSize+1, bufAddr); c != dmaError {
		t.Fatalf("overlong write: control %#x, want error", c)
	}
	if len(writes) != 2 {
		t.Fatalf("overlong write reached the callback")
	}
	if _, err := ParseRAMFBConfig(make([]byte, 27)); err == nil {
		t.Fatal("a short ramfb config parsed")
	}
}

func TestHostileDMA(t *testing.T) {
	dr := newDriver(t)
	if err := dr.dev.AddFile("etc/ro", []byte("read only")); err != nil {
		t.Fatal(err)
	}
	_, key, _ := dr.file("etc/ro")
	sel := uint32(key)<<16 | dmaSelect
	cases := []struct {
		name            string
		control, length uint32
		address         uint64
	}{
		{"read to an address outside RAM", sel | dmaRead, 8, testRAMSize + 0x1000},
		{"read straddling the end of RAM", sel | dmaRead, 8, testRAMSize - 4},
		{"read with address+length wrapping", sel | dmaRead, 16, ^uint64(0) - 7},
		{"read longer than any transfer", sel | dmaRead, MaxTransfer + 1, 0},
		{"write to a read-only file", sel | dmaWrite, 4, bufAddr},
		{"write to an absent item", 0x7777<<16 | dmaSelect | dmaWrite, 4, bufAddr},
		{"write to the signature", KeySignature<<16 | dmaSelect | dmaWrite, 4, bufAddr},
		{"write from outside RAM", sel | dmaWrite, 4, 1 << 40},
	}
	for _, c := range cases {
		before := bytes.Clone(dr.ram)
		got := dr.dma(c.control, c.length, c.address)
		if got != dmaError {
			t.Errorf("%s: control %#x, want the error bit alone", c.name, got)
		}
		// Nothing outside the descriptor may have changed.
		after := bytes.Clone(dr.ram)
		copy(after[descAddr:descAddr+dmaDescriptorSize], before[descAddr:descAddr+dmaDescriptorSize])
		if !bytes.Equal(before, after) {
			t.Errorf("%s: guest memory changed", c.name)
		}
	}
	if got, _, _ := dr.file("etc/ro"); string(got) != "read only" {
		t.Fatalf("read-only file now %q", got)
	}

	// Descriptors outside RAM, or straddling its end, are ignored; the device still works afterwards.
	before := bytes.Clone(dr.ram)
	for _, desc := range []uint64{testRAMSize, testRAMSize - 8, 1 << 63, ^uint64(0)} {
		dr.startDMA(desc)
	}
	dr.dev.Write(PortDMAHigh-PortBase, binary.BigEndian.AppendUint64(nil, ^uint64(0)-3)) // 64-bit write
	if !bytes.Equal(before, dr.ram) {
		t.Fatal("a descriptor outside RAM changed guest memory")
	}
	// Odd access widths on every port are ignored or read as defined values, never crash.
	for off := uint64(0); off < PortsSize; off++ {
		for _, n := range []int{1, 2, 4, 8} {
			b := make([]byte, n)
			dr.dev.Read(off, b)
			dr.dev.Write(off, b)
		}
	}
	if got := dr.dmaRead(KeySignature, 4); string(got) != "QEMU" {
		t.Fatalf("after hostile input the signature reads %q", got)
	}
}

// The high half of the descriptor address applies to one transfer only: SeaBIOS writes just the low half.
func TestDMAHighHalfIsPerTransfer(t *testing.T) {
	dr := newDriver(t)
	const control = KeySignature<<16 | dmaSelect | dmaRead
	d := dr.ram[descAddr : descAddr+dmaDescriptorSize]
	binary.BigEndian.PutUint32(d[0:], control)
	binary.BigEndian.PutUint32(d[4:], 4)
	binary.BigEndian.PutUint64(d[8:], bufAddr)
	low := binary.BigEndian.AppendUint32(nil, descAddr)
	dr.dev.Write(PortDMAHigh-PortBase, []byte{0, 0, 0, 1}) // 4 GiB up: no RAM there
	dr.dev.Write(PortDMALow-PortBase, low)
	if c := binary.BigEndian.Uint32(d); c != control {
		t.Fatalf("control %#x: the descriptor at the low address ran despite the high half", c)
	}
	dr.dev.Write(PortDMALow-PortBase, low) // the high half is back to 0
	if c := binary.BigEndian.Uint32(d); c != 0 || string(dr.ram[bufAddr:bufAddr+4]) != "QEMU" {
		t.Fatalf("low-half-only DMA: control %#x, data %q", c, dr.ram[bufAddr:bufAddr+4])
	}
}

func TestConcurrentAccess(t *testing.T) {
	dr := newDriver(t)
	if err := dr.dev.AddFile("etc/x", make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			desc := uint64(0x10000 + g*0x100)
			for i := 0; i < 200; i++ {
				d := dr.ram[desc : desc+16]
				binary.BigEndian.PutUint32(d[0:], KeyFileDir<<16|dmaSelect|dmaRead)
				binary.BigEndian.PutUint32(d[4:], 68)
				binary.BigEndian.PutUint64(d[8:], desc+16)
				dr.dev.Write(PortDMALow-PortBase, binary.BigEndian.AppendUint32(nil, uint32(desc)))
				if c, n := binary.BigEndian.Uint32(d[0:]), binary.BigEndian.Uint32(dr.ram[desc+16:]); c != 0 || n != 1 {
					t.Errorf("goroutine %d: control %#x, directory count %d", g, c, n)
					return
				}
				b := make([]byte, 1)
				dr.dev.Read(PortData-PortBase, b)
			}
		}(g)
	}
	wg.Wait()
}
