package fwcfg

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

// Where the test firmware puts what the loader allocates, as SeaBIOS's zones would.
const (
	testFSeg = 0xF0000
	testHigh = 0x80000
)

// runTableLoader does what SeaBIOS's romfile_loader_execute does with "etc/table-loader", in guest RAM.
func runTableLoader(t *testing.T, dr *driver) {
	t.Helper()
	script, _, ok := dr.file(FileTableLoader)
	if !ok {
		t.Fatal("no etc/table-loader")
	}
	if len(script)%loaderEntrySize != 0 {
		t.Fatalf("table-loader is %d bytes, not whole entries", len(script))
	}
	type alloc struct{ addr, size uint64 }
	allocs := map[string]alloc{}
	next := map[byte]uint64{loaderZoneHigh: testHigh, loaderZoneFSeg: testFSeg}
	name := func(b []byte) string {
		if b[loaderNameSize-1] != 0 {
			t.Fatalf("loader name not NUL-terminated: %q", b)
		}
		return string(b[:bytes.IndexByte(b, 0)])
	}
	le := binary.LittleEndian
	for off := 0; off < len(script); off += loaderEntrySize {
		e := script[off : off+loaderEntrySize]
		a := e[4:]
		switch le.Uint32(e) {
		case loaderAllocate:
			file := name(a[:loaderNameSize])
			align := uint64(le.Uint32(a[loaderNameSize:]))
			zone := a[loaderNameSize+4]
			if align&(align-1) != 0 || next[zone] == 0 {
				t.Fatalf("allocate %q: align %d zone %d", file, align, zone)
			}
			data, _, ok := dr.file(file)
			if !ok {
				t.Fatalf("allocate names absent file %q", file)
			}
			addr := (next[zone] + align - 1) &^ (align - 1)
			copy(dr.ram[addr:], data)
			next[zone] = addr + uint64(len(data))
			allocs[file] = alloc{addr, uint64(len(data))}
		case loaderAddPointer:
			dst, okd := allocs[name(a[:loaderNameSize])]
			src, oks := allocs[name(a[loaderNameSize:2*loaderNameSize])]
			at := uint64(le.Uint32(a[2*loaderNameSize:]))
			size := uint64(a[2*loaderNameSize+4])
			if !okd || !oks || (size != 1 && size != 2 && size != 4 && size != 8) || at+size > dst.size {
				t.Fatalf("bad ADD_POINTER entry %d", off/loaderEntrySize)
			}
			var v [8]byte
			copy(v[:], dr.ram[dst.addr+at:dst.addr+at+size])
			binary.LittleEndian.PutUint64(v[:], binary.LittleEndian.Uint64(v[:])+src.addr)
			copy(dr.ram[dst.addr+at:], v[:size])
		case loaderAddChecksum:
			f, ok := allocs[name(a[:loaderNameSize])]
			at := uint64(le.Uint32(a[loaderNameSize:]))
			start := uint64(le.Uint32(a[loaderNameSize+4:]))
			n := uint64(le.Uint32(a[loaderNameSize+8:]))
			if !ok || at >= f.size || start+n > f.size {
				t.Fatalf("bad ADD_CHECKSUM entry %d", off/loaderEntrySize)
			}
			dr.ram[f.addr+at] -= sum(dr.ram[f.addr+start : f.addr+start+n])
		default:
			t.Fatalf("unexpected loader command %d", le.Uint32(e))
		}
	}
}

func sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// testTable builds a table with a header, junk in the body and a wrong checksum.
func testTable(sig string, length int) []byte {
	t := make([]byte, length)
	for i := range t {
		t[i] = byte(i*7 + 3)
	}
	copy(t, sig)
	binary.LittleEndian.PutUint32(t[4:], uint32(length))
	if sig != "FACS" {
		copy(t[10:], "PADDCKPADDOCK ")
	}
	return t
}

// acpiView reads the tables the way an OS does, from the RSDP in the F segment.
type acpiView struct {
	t   *testing.T
	ram []byte
}

func (v acpiView) table(addr uint64, wantSig string) []byte {
	v.t.Helper()
	if addr == 0 || addr+8 > uint64(len(v.ram)) {
		v.t.Fatalf("%s at bad address %#x", wantSig, addr)
	}
	n := uint64(binary.LittleEndian.Uint32(v.ram[addr+4:]))
	tb := v.ram[addr : addr+n]
	if string(tb[:4]) != wantSig {
		v.t.Fatalf("table at %#x is %q, want %q", addr, tb[:4], wantSig)
	}
	if wantSig != "FACS" && sum(tb) != 0 {
		v.t.Fatalf("%s checksum does not sum to zero", wantSig)
	}
	return tb
}

func (v acpiView) rsdp() []byte {
	for a := testFSeg; a < 0x100000; a += 16 {
		if string(v.ram[a:a+8]) == "RSD PTR " {
			r := v.ram[a : a+rsdpSize]
			if sum(r[:20]) != 0 || sum(r) != 0 || r[15] != 2 {
				v.t.Fatalf("RSDP checksums %d/%d, revision %d", sum(r[:20]), sum(r), r[15])
			}
			return r
		}
	}
	v.t.Fatal("no RSDP in the F segment")
	return nil
}

func TestACPITablesThroughTheLoader(t *testing.T) {
	dr := newDriver(t)
	fadt := testTable("FACP", 276)
	err := dr.dev.SetACPITables(testTable("DSDT", 100), fadt, testTable("FACS", 64), testTable("APIC", 44),
		testTable("HPET", 56))
	if err != nil {
		t.Fatal(err)
	}
	runTableLoader(t, dr)
	v := acpiView{t, dr.ram}
	le := binary.LittleEndian
	r := v.rsdp()
	xsdt := v.table(le.Uint64(r[24:]), "XSDT")
	rsdt := v.table(uint64(le.Uint32(r[16:])), "RSDT")
	if string(r[9:15]) != "PADDCK" || string(xsdt[10:16]) != "PADDCK" {
		t.Errorf("OEM IDs %q %q", r[9:15], xsdt[10:16])
	}
	var listed []string
	for i := acpiHeaderSize; i < len(xsdt); i += 8 {
		x := le.Uint64(xsdt[i:])
		r := uint64(le.Uint32(rsdt[acpiHeaderSize+(i-acpiHeaderSize)/2:]))
		if x != r {
			t.Fatalf("XSDT entry %#x, RSDT entry %#x", x, r)
		}
		tb := v.ram[x : x+4]
		listed = append(listed, string(tb))
		v.table(x, string(tb))
	}
	if fmt.Sprint(listed) != "[FACP APIC HPET]" {
		t.Fatalf("XSDT lists %v", listed)
	}
	fa := v.table(le.Uint64(xsdt[acpiHeaderSize:]), "FACP")
	dsdt := v.table(le.Uint64(fa[fadtXDSDT:]), "DSDT")
	if uint64(le.Uint32(fa[fadtDSDT:])) != le.Uint64(fa[fadtXDSDT:]) {
		t.Errorf("DSDT %#x and X_DSDT %#x differ", le.Uint32(fa[fadtDSDT:]), le.Uint64(fa[fadtXDSDT:]))
	}
	if !bytes.Equal(dsdt[acpiHeaderSize:], testTable("DSDT", 100)[acpiHeaderSize:]) {
		t.Error("DSDT body changed")
	}
	facsAddr := le.Uint64(fa[fadtXFirmwareCtrl:])
	v.table(facsAddr, "FACS")
	if facsAddr%64 != 0 || le.Uint32(fa[fadtFirmwareCtrl:]) != 0 {
		t.Errorf("FACS at %#x (want 64-byte aligned), FIRMWARE_CTRL %#x (want 0)", facsAddr, le.Uint32(fa[fadtFirmwareCtrl:]))
	}
	// Everything but the link fields and the checksum is as given.
	want := bytes.Clone(fadt)
	for _, f := range [][2]int{{9, 1}, {fadtFirmwareCtrl, 8}, {fadtXFirmwareCtrl, 16}} {
		copy(want[f[0]:f[0]+f[1]], fa[f[0]:f[0]+f[1]])
	}
	if !bytes.Equal(fa, want) {
		t.Error("FADT fields other than the links changed")
	}
}

func TestACPIOldFADTUsesThirtyTwoBitLinks(t *testing.T) {
	dr := newDriver(t)
	if err := dr.dev.SetACPITables(testTable("FACP", 116), testTable("FACS", 64), testTable("DSDT", 40)); err != nil {
		t.Fatal(err)
	}
	runTableLoader(t, dr)
	v := acpiView{t, dr.ram}
	le := binary.LittleEndian
	rsdt := v.table(uint64(le.Uint32(v.rsdp()[16:])), "RSDT")
	if len(rsdt) != acpiHeaderSize+4 {
		t.Fatalf("RSDT lists %d tables, want the FADT alone", (len(rsdt)-acpiHeaderSize)/4)
	}
	fa := v.table(uint64(le.Uint32(rsdt[acpiHeaderSize:])), "FACP")
	v.table(uint64(le.Uint32(fa[fadtDSDT:])), "DSDT")
	v.table(uint64(le.Uint32(fa[fadtFirmwareCtrl:])), "FACS")
}

func TestACPIRefusesMalformedTables(t *testing.T) {
	dr := newDriver(t)
	bad := testTable("APIC", 44)
	binary.LittleEndian.PutUint32(bad[4:], 45)
	for name, tables := range map[string][][]byte{
		"length field mismatch": {bad},
		"tiny":                  {[]byte("APIC")},
		"short header":          {testTable("APIC", 20)},
		"FADT too short":        {testTable("FACP", 40)},
		"two DSDTs":             {testTable("DSDT", 40), testTable("DSDT", 40)},
	} {
		if err := dr.dev.SetACPITables(tables...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, ok := dr.file(FileTableLoader); ok {
		t.Error("a refused set still published a table loader")
	}
}
