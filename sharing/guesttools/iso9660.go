package guesttools

import (
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"time"
)

// File is one file in the root directory of an image.
type File struct {
	Name string      // the Rock Ridge name, e.g. "install.sh"; the ISO 9660 name is an 8.3 form of it
	Mode fs.FileMode // permission bits
	Data []byte
}

const sector = 2048

// Sector numbers of the fixed parts of the image.
const (
	pvdSector          = 16
	terminatorSector   = 17
	lPathSector        = 18
	mPathSector        = 19
	continuationSector = 20 // the Rock Ridge ER entry, too big for the root's own record
	rootSector         = 21
)

// Rock Ridge's extension reference (RRIP 1.12, as every writer records it).
const (
	rripID  = "RRIP_1991A"
	rripDes = "THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS"
	rripSrc = "PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION."
)

// WriteISO writes an ISO 9660 image (level 1 names, with Rock Ridge names and modes) holding files in its root
// directory. volumeID is upper-case letters, digits and '_', at most 32.
func WriteISO(w io.Writer, volumeID string, files []File, now time.Time) error {
	if volumeID == "" || len(volumeID) > 32 || strings.Trim(volumeID, dChars) != "" {
		return fmt.Errorf("volume ID %q: use 1 to 32 upper-case letters, digits or '_'", volumeID)
	}
	type entry struct {
		File
		isoName string
		lba     uint32
	}
	entries := make([]entry, 0, len(files))
	used := map[string]bool{}
	for _, f := range files {
		if f.Name == "" || len(f.Name) > 100 || strings.ContainsAny(f.Name, "/\x00") {
			return fmt.Errorf("file name %q: not a plain file name", f.Name)
		}
		if uint64(len(f.Data)) > 1<<32-1 {
			return fmt.Errorf("%s is too large for ISO 9660", f.Name)
		}
		n := shortName(f.Name, used)
		if n == "" {
			return fmt.Errorf("too many files named like %q", f.Name)
		}
		entries = append(entries, entry{File: f, isoName: n})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].isoName < entries[j].isoName })

	// The root directory: ".", "..", then each file. A record never crosses a sector boundary. Records have the
	// same size whatever their extent, so the layout is measured with extent 0 first.
	rootSU := append(suspSP(), suspCE(continuationSector, 0, uint32(len(suspER())))...)
	rootSU = append(rootSU, suspPX(fs.ModeDir|0o555, 2)...)
	records := func(rootSize uint32) [][]byte {
		recs := [][]byte{
			dirRecord([]byte{0}, rootSector, rootSize, true, now, rootSU),
			dirRecord([]byte{1}, rootSector, rootSize, true, now, suspPX(fs.ModeDir|0o555, 2)),
		}
		for _, e := range entries {
			recs = append(recs, dirRecord([]byte(e.isoName+";1"), e.lba, uint32(len(e.Data)), false, now,
				append(suspPX(e.Mode.Perm(), 1), suspNM(e.Name)...)))
		}
		return recs
	}
	rootSize := uint32(len(pad(directory(records(0)))))
	next := uint32(rootSector) + rootSize/sector
	for i := range entries {
		entries[i].lba = next
		next += uint32((len(entries[i].Data) + sector - 1) / sector)
	}
	total := next
	recs := records(rootSize)

	img := &sectorWriter{w: w}
	img.zeros(pvdSector * sector)
	img.write(primaryDescriptor(volumeID, total, recs[0], now))
	img.write(terminator())
	img.write(pathTable(binary.LittleEndian))
	img.write(pathTable(binary.BigEndian))
	img.write(pad(suspER()))
	img.write(pad(directory(recs)))
	for _, e := range entries {
		img.write(pad(e.Data))
	}
	if img.err == nil && img.n != int64(total)*sector {
		return fmt.Errorf("image layout: wrote %d bytes, expected %d", img.n, int64(total)*sector)
	}
	return img.err
}

const dChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"

// shortName makes a unique ISO 9660 level 1 name (8.3, d-characters) for name.
func shortName(name string, used map[string]bool) string {
	clean := func(s string, n int) string {
		var b strings.Builder
		for _, r := range strings.ToUpper(s) {
			if b.Len() == n {
				break
			}
			if strings.ContainsRune(dChars, r) {
				b.WriteRune(r)
			} else {
				b.WriteByte('_')
			}
		}
		return b.String()
	}
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i+1:]
	}
	b, x := clean(base, 8), clean(ext, 3)
	if b == "" {
		b = "FILE"
	}
	for i := 0; i < 1000; i++ {
		cand := b
		if i > 0 {
			suffix := fmt.Sprint(i)
			cand = b[:min(len(b), 8-len(suffix))] + suffix
		}
		full := cand + "." + x
		if !used[full] {
			used[full] = true
			return full
		}
	}
	return ""
}

// directory lays records out so that none crosses a sector boundary.
func directory(recs [][]byte) []byte {
	var dir []byte
	for _, r := range recs {
		if len(dir)%sector+len(r) > sector {
			dir = append(dir, make([]byte, sector-len(dir)%sector)...)
		}
		dir = append(dir, r...)
	}
	return dir
}

// sectorWriter counts what it writes and keeps the first error.
type sectorWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (s *sectorWriter) write(b []byte) {
	if s.err != nil {
		return
	}
	n, err := s.w.Write(b)
	s.n += int64(n)
	s.err = err
}

func (s *sectorWriter) zeros(n int) { s.write(make([]byte, n)) }

func pad(b []byte) []byte {
	if r := len(b) % sector; r != 0 || len(b) == 0 {
		return append(b, make([]byte, sector-r)...)
	}
	return b
}

func both16(b []byte, v uint16) {
	binary.LittleEndian.PutUint16(b, v)
	binary.BigEndian.PutUint16(b[2:], v)
}

func both32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b, v)
	binary.BigEndian.PutUint32(b[4:], v)
}

// dirRecord is one directory record (ECMA-119 9.1) with a system use area.
func dirRecord(id []byte, lba, size uint32, dir bool, t time.Time, su []byte) []byte {
	n := 33 + len(id)
	if n%2 == 1 {
		n++
	}
	r := make([]byte, n, n+len(su)+1)
	r = append(r, su...)
	if len(r)%2 == 1 {
		r = append(r, 0)
	}
	r[0] = byte(len(r))
	both32(r[2:], lba)
	both32(r[10:], size)
	t = t.UTC()
	copy(r[18:25], []byte{byte(t.Year() - 1900), byte(t.Month()), byte(t.Day()), byte(t.Hour()), byte(t.Minute()), byte(t.Second()), 0})
	if dir {
		r[25] = 2
	}
	both16(r[28:], 1)
	r[32] = byte(len(id))
	copy(r[33:], id)
	return r
}

func primaryDescriptor(volumeID string, total uint32, root []byte, t time.Time) []byte {
	d := make([]byte, sector)
	d[0] = 1
	copy(d[1:], "CD001")
	d[6] = 1
	field := func(off, n int, s string) { copy(d[off:off+n], fmt.Sprintf("%-*s", n, s)) }
	field(8, 32, "LINUX")
	field(40, 32, volumeID)
	both32(d[80:], total)
	both16(d[120:], 1)
	both16(d[124:], 1)
	both16(d[128:], sector)
	both32(d[132:], 10) // the path table: the root alone
	binary.LittleEndian.PutUint32(d[140:], lPathSector)
	binary.BigEndian.PutUint32(d[148:], mPathSector)
	copy(d[156:190], root[:34]) // the root's record without its system use area
	d[156] = 34
	field(190, 128, "")
	field(318, 128, "PADDOCK")
	field(446, 128, "PADDOCK")
	field(574, 128, "PADDOCK GUEST TOOLS")
	field(702, 37, "")
	field(739, 37, "")
	field(776, 37, "")
	stamp := []byte(t.UTC().Format("20060102150405") + "00\x00")
	never := []byte("0000000000000000\x00")
	copy(d[813:], stamp)
	copy(d[830:], stamp)
	copy(d[847:], never)
	copy(d[864:], never)
	d[881] = 1
	return d
}

func terminator() []byte {
	d := make([]byte, sector)
	d[0] = 255
	copy(d[1:], "CD001")
	d[6] = 1
	return d
}

func pathTable(order binary.ByteOrder) []byte {
	t := make([]byte, sector)
	t[0] = 1 // the root's identifier is one byte, 0
	order.PutUint32(t[2:], rootSector)
	order.PutUint16(t[6:], 1)
	return t
}

// System use entries (SUSP 1.12, RRIP 1.12).

func suspSP() []byte { return []byte{'S', 'P', 7, 1, 0xBE, 0xEF, 0} }

func suspCE(lba, offset, length uint32) []byte {
	e := make([]byte, 28)
	copy(e, "CE")
	e[2], e[3] = 28, 1
	both32(e[4:], lba)
	both32(e[12:], offset)
	both32(e[20:], length)
	return e
}

func suspER() []byte {
	e := []byte{'E', 'R', byte(8 + len(rripID) + len(rripDes) + len(rripSrc)), 1,
		byte(len(rripID)), byte(len(rripDes)), byte(len(rripSrc)), 1}
	return append(append(append(e, rripID...), rripDes...), rripSrc...)
}

// suspPX is the POSIX attributes entry: mode, links, owner root.
func suspPX(mode fs.FileMode, links uint32) []byte {
	e := make([]byte, 44)
	copy(e, "PX")
	e[2], e[3] = 44, 1
	m := uint32(mode.Perm())
	if mode.IsDir() {
		m |= 0o040000
	} else {
		m |= 0o100000
	}
	both32(e[4:], m)
	both32(e[12:], links)
	return e
}

func suspNM(name string) []byte {
	return append([]byte{'N', 'M', byte(5 + len(name)), 1, 0}, name...)
}
