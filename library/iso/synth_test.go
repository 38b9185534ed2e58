package iso

import (
	"encoding/binary"
	"errors"
	"io"
)

// A small ISO 9660 image built byte by byte, so tests can break any one field. Layout, in 2048-byte sectors:
const (
	secPVD        = 16
	secBootRecord = 17
	secTerminator = 18
	secCatalog    = 19
	secRoot       = 20
	secDiskDir    = 21
	secDiskInfo   = 22
	secBootImage  = 23
	synthSectors  = 24
)

const synthDiskInfo = `Debian GNU/Linux 12.5.0 "Bookworm" - Official amd64 NETINST with firmware 20240210-11:27`

func putBoth32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b[0:4], v)
	binary.BigEndian.PutUint32(b[4:8], v)
}

func putBoth16(b []byte, v uint16) {
	binary.LittleEndian.PutUint16(b[0:2], v)
	binary.BigEndian.PutUint16(b[2:4], v)
}

// dirRecord builds a directory record; nm, when set, adds a Rock Ridge NM entry.
func dirRecord(name string, lba, length uint32, dir bool, nm string) []byte {
	su := []byte(nil)
	if nm != "" {
		su = append([]byte{'N', 'M', byte(5 + len(nm)), 1, 0}, nm...)
	}
	n := 33 + len(name)
	if len(name)%2 == 0 {
		n++
	}
	suAt := n
	n += len(su)
	if n%2 == 1 {
		n++
	}
	r := make([]byte, n)
	r[0] = byte(n)
	putBoth32(r[2:], lba)
	putBoth32(r[10:], length)
	if dir {
		r[25] = flagDirectory
	}
	putBoth16(r[28:], 1)
	r[32] = byte(len(name))
	copy(r[33:], name)
	copy(r[suAt:], su)
	return r
}

// validationEntry builds the catalog's first entry with a correct checksum.
func validationEntry(platform byte) []byte {
	v := make([]byte, entrySize)
	v[0], v[1], v[30], v[31] = headerValidation, platform, 0x55, 0xAA
	copy(v[4:], "PADDOCK TEST")
	var sum uint16
	for i := 0; i < entrySize; i += 2 {
		sum += binary.LittleEndian.Uint16(v[i:])
	}
	binary.LittleEndian.PutUint16(v[28:], -sum)
	return v
}

// bootEntry builds a default or section entry.
func bootEntry(indicator byte, media Media, count uint16, rba uint32) []byte {
	e := make([]byte, entrySize)
	e[0], e[1] = indicator, byte(media)
	binary.LittleEndian.PutUint16(e[6:], count)
	binary.LittleEndian.PutUint32(e[8:], rba)
	return e
}

// synthISO returns a BIOS-bootable image named "Debian 12.5.0 amd64 n" with /.disk/info, as Rock Ridge names.
func synthISO() []byte {
	img := make([]byte, synthSectors*sectorSize)
	sec := func(n int) []byte { return img[n*sectorSize : (n+1)*sectorSize] }

	pvd := sec(secPVD)
	pvd[0], pvd[6] = vdPrimary, 1
	copy(pvd[1:], standardID)
	copy(pvd[8:40], padded("LINUX", 32))
	copy(pvd[40:72], padded("Debian 12.5.0 amd64 n", 32))
	putBoth32(pvd[80:], synthSectors)
	putBoth16(pvd[120:], 1)
	putBoth16(pvd[124:], 1)
	putBoth16(pvd[128:], sectorSize)
	copy(pvd[156:190], dirRecord("\x00", secRoot, sectorSize, true, ""))
	copy(pvd[318:446], padded("DEBIAN", 128))
	pvd[881] = 1

	br := sec(secBootRecord)
	br[0], br[6] = vdBootRecord, 1
	copy(br[1:], standardID)
	copy(br[7:], elTorito)
	binary.LittleEndian.PutUint32(br[71:], secCatalog)

	term := sec(secTerminator)
	term[0], term[6] = vdTerminator, 1
	copy(term[1:], standardID)

	cat := sec(secCatalog)
	copy(cat, validationEntry(byte(PlatformBIOS)))
	copy(cat[entrySize:], bootEntry(indicatorBootable, MediaNoEmulation, 4, secBootImage))

	root := sec(secRoot)
	off := 0
	for _, r := range [][]byte{
		dirRecord("\x00", secRoot, sectorSize, true, ""),
		dirRecord("\x01", secRoot, sectorSize, true, ""),
		dirRecord("_DISK", secDiskDir, sectorSize, true, ".disk"),
	} {
		off += copy(root[off:], r)
	}
	disk := sec(secDiskDir)
	off = 0
	for _, r := range [][]byte{
		dirRecord("\x00", secDiskDir, sectorSize, true, ""),
		dirRecord("\x01", secRoot, sectorSize, true, ""),
		dirRecord("INFO.;1", secDiskInfo, uint32(len(synthDiskInfo)), false, "info"),
	} {
		off += copy(disk[off:], r)
	}
	copy(sec(secDiskInfo), synthDiskInfo)
	copy(sec(secBootImage), []byte{0xFA, 0xF4}) // cli; hlt
	return img
}

func padded(s string, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = ' '
	}
	copy(b, s)
	return b
}

// sector returns sector n of img for editing.
func sector(img []byte, n int) []byte { return img[n*sectorSize : (n+1)*sectorSize] }

// countingReader serves data, reads as zeros up to size past it, and counts the bytes asked for.
type countingReader struct {
	data  []byte
	size  int64
	bytes int64
	calls int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.calls++
	c.bytes += int64(len(p))
	if off >= c.size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > c.size-off {
		n = int(c.size - off)
	}
	clear(p[:n])
	if off < int64(len(c.data)) {
		copy(p[:n], c.data[off:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// failingReader fails every read, as a scratched disc or a vanished network share does.
type failingReader struct{}

func (failingReader) ReadAt([]byte, int64) (int, error) { return 0, errors.New("input/output error") }
