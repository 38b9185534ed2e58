package iso

import (
	"bytes"
	"testing"
)

// maxInspectBytes bounds what one inspection may read, whatever the image says: descriptors, a catalog, a few
// directories and files.
const maxInspectBytes = 4 << 20

// checkInvariants inspects an image served by r and checks what must hold for any input.
func checkInvariants(t *testing.T, r *countingReader) {
	info, err := InspectReaderAt(r, r.size, "fuzz.iso")
	if r.bytes > maxInspectBytes {
		t.Fatalf("read %d bytes in %d calls", r.bytes, r.calls)
	}
	if err != nil {
		if err.Error() == "" {
			t.Fatal("empty error message")
		}
		return
	}
	if info.Bootable != (info.BIOSBootable || info.UEFIBootable) {
		t.Fatalf("Bootable %v, BIOS %v, UEFI %v", info.Bootable, info.BIOSBootable, info.UEFIBootable)
	}
	if info.Bootable == (info.Reason != "") {
		t.Fatalf("Bootable %v with reason %q", info.Bootable, info.Reason)
	}
	if info.Label == "" || info.SizeBytes <= 0 {
		t.Fatalf("label %q size %d", info.Label, info.SizeBytes)
	}
}

// FuzzInspect feeds whole images.
func FuzzInspect(f *testing.F) {
	f.Add(synthISO())
	f.Add([]byte{})
	f.Add(make([]byte, 40<<10))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkInvariants(t, &countingReader{data: data, size: int64(len(data))})
	})
}

// The fields the parser reads sit at the start of their sectors, so FuzzSectors lets the fuzzer write only there:
// its input is cut into fuzzChunk-byte pieces laid at the start of sectors 16, 17, ... of an otherwise zero image
// of synthSectors sectors.
const fuzzChunk = 256

func sectorsImage(data []byte) []byte {
	img := make([]byte, synthSectors*sectorSize)
	for i := 0; i < synthSectors-secPVD && len(data) > 0; i++ {
		n := copy(sector(img, secPVD+i)[:fuzzChunk], data)
		data = data[n:]
	}
	return img
}

// sectorsInput is the inverse of sectorsImage for seeds.
func sectorsInput(img []byte) []byte {
	var data []byte
	for i := secPVD; i < synthSectors; i++ {
		data = append(data, sector(img, i)[:fuzzChunk]...)
	}
	return data
}

// FuzzSectors feeds the first bytes of each sector from 16 on: descriptors, catalog, directories, files.
func FuzzSectors(f *testing.F) {
	f.Add(sectorsInput(synthISO()))
	img := synthISO()
	copy(sector(img, secCatalog)[2*entrySize:], []byte{headerFinal, byte(PlatformUEFI), 1, 0})
	copy(sector(img, secCatalog)[3*entrySize:], bootEntry(indicatorBootable, MediaNoEmulation, 1, secBootImage))
	f.Add(sectorsInput(img))
	f.Fuzz(func(t *testing.T, data []byte) {
		img := sectorsImage(data)
		checkInvariants(t, &countingReader{data: img, size: int64(len(img))})
	})
}

func TestSeedInvariants(t *testing.T) {
	// The seed survives the round trip through the sectors form, so the fuzzer starts from a bootable Debian image.
	img := sectorsImage(sectorsInput(synthISO()))
	if info, err := InspectReaderAt(bytes.NewReader(img), int64(len(img)), "seed.iso"); err != nil || !info.Bootable || info.Family != FamilyDebian {
		t.Errorf("sectors seed: %v, %+v", err, info)
	}
	for _, img := range [][]byte{synthISO(), synthISO()[:20*sectorSize], bytes.Repeat([]byte{0xFF}, 40<<10)} {
		checkInvariants(t, &countingReader{data: img, size: int64(len(img))})
	}
}
