package iso

import (
	"bytes"
	"encoding/binary"
	"strings"
)

const (
	// minRecord is a directory record's fixed part plus a one-byte name (ECMA-119 9.1).
	minRecord = 34
	// maxDirBytes bounds one directory read; an installer's directories are a few sectors.
	maxDirBytes = 256 << 10
	// maxDepth bounds a path lookup; the well-known files are at most three levels down.
	maxDepth = 8
	// maxEntries bounds the records kept per directory.
	maxEntries = 4096

	flagDirectory = 0x02
)

// dirEntry is one directory record, reduced to what lookups need.
type dirEntry struct {
	isoName string // the ISO 9660 name, as recorded
	rrName  string // the Rock Ridge NM name, if the record has one
	offset  int64  // byte offset of the extent
	length  int64
	isDir   bool
}

// record decodes a directory record's extent, returning ok=false when it is malformed.
func (in *inspection) record(rec []byte) (e dirEntry, ok bool) {
	if len(rec) < minRecord || int(rec[0]) > len(rec) || int(rec[0]) < minRecord {
		return dirEntry{}, false
	}
	rec = rec[:rec[0]]
	nameLen := int(rec[32])
	if nameLen == 0 || 33+nameLen > len(rec) {
		return dirEntry{}, false
	}
	e = dirEntry{
		isoName: string(rec[33 : 33+nameLen]),
		offset:  (int64(binary.LittleEndian.Uint32(rec[2:6])) + int64(rec[1])) * in.blockSize,
		length:  int64(binary.LittleEndian.Uint32(rec[10:14])),
		isDir:   rec[25]&flagDirectory != 0,
	}
	su := 33 + nameLen
	if nameLen%2 == 0 {
		su++ // padding byte keeps the system use area even-aligned
	}
	if su < len(rec) {
		e.rrName = rockRidgeName(rec[su:])
	}
	return e, true
}

// rockRidgeName returns the name an NM entry of a record's system use area gives (SUSP 1.12, RRIP 1.12), or "".
// Continuation areas are not followed: names of the well-known files are short.
func rockRidgeName(su []byte) string {
	var name []byte
	for len(su) >= 4 {
		sig, n := string(su[0:2]), int(su[2])
		if n < 4 || n > len(su) {
			break
		}
		if sig == "ST" {
			break
		}
		if sig == "NM" && n >= 5 {
			flags := su[4]
			if flags&0x06 != 0 {
				return "" // "." or ".."
			}
			name = append(name, su[5:n]...)
			if flags&0x01 == 0 {
				return string(name)
			}
		}
		su = su[n:]
	}
	return string(name)
}

// readDir returns the records of the directory whose extent is at offset, length bytes long, or nil when the
// extent is outside the volume or the file. Directories are read once per inspection.
func (in *inspection) readDir(offset, length int64) ([]dirEntry, error) {
	if entries, ok := in.dirs[offset]; ok {
		return entries, nil
	}
	in.dirs[offset] = nil // a directory that contains itself finds nothing the second time
	if offset < firstDescriptor*sectorSize || length <= 0 || offset+length > in.volumeBytes {
		return nil, nil
	}
	data, err := in.img.read(offset, min(length, maxDirBytes))
	if err != nil {
		return nil, in.ioFailure(err)
	}
	var entries []dirEntry
	// Records never cross a 2048-byte sector; a zero length byte pads to the next sector.
	for pos := 0; pos < len(data) && len(entries) < maxEntries; {
		if data[pos] == 0 {
			pos = (pos/sectorSize + 1) * sectorSize
			continue
		}
		sectorEnd := min((pos/sectorSize+1)*sectorSize, len(data))
		n := int(data[pos])
		if n < minRecord || pos+n > sectorEnd {
			pos = sectorEnd // a malformed record spoils only the rest of its sector
			continue
		}
		if e, ok := in.record(data[pos : pos+n]); ok {
			entries = append(entries, e)
		}
		pos += n
	}
	in.dirs[offset] = entries
	return entries, nil
}

// lookup finds the file at an absolute slash-separated path, matching Rock Ridge names exactly and ISO 9660 names
// the way mastering tools mangle them ("alpine-release" is recorded as "ALPINE_RELEASE.;1").
func (in *inspection) lookup(path string) (dirEntry, bool, error) {
	root, ok := in.record(in.root)
	if !ok || !root.isDir {
		return dirEntry{}, false, nil
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) > maxDepth {
		return dirEntry{}, false, nil
	}
	cur := root
	for i, part := range parts {
		entries, err := in.readDir(cur.offset, cur.length)
		if err != nil {
			return dirEntry{}, false, err
		}
		found := false
		for _, e := range entries {
			if e.isoName == "\x00" || e.isoName == "\x01" {
				continue // "." and ".."
			}
			if e.rrName == part || (e.rrName == "" && isoNameMatches(e.isoName, part)) {
				cur, found = e, true
				break
			}
		}
		if !found || (i < len(parts)-1 && !cur.isDir) {
			return dirEntry{}, false, nil
		}
	}
	return cur, true, nil
}

// isoNameMatches compares a recorded ISO 9660 name with a wanted name, ignoring case, the ";1" version, a
// trailing dot, and every character outside [A-Z0-9], which mastering tools replace with "_".
func isoNameMatches(recorded, want string) bool {
	if i := strings.LastIndexByte(recorded, ';'); i >= 0 {
		recorded = recorded[:i]
	}
	return normalizeName(recorded) == normalizeName(want)
}

func normalizeName(s string) string {
	s = strings.TrimSuffix(s, ".")
	var b strings.Builder
	for _, c := range []byte(strings.ToUpper(s)) {
		if (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// readFile returns up to limit bytes from the start of the file at path, or nil if it is absent, a directory, or
// not wholly inside the volume and the file.
func (in *inspection) readFile(path string, limit int64) ([]byte, error) {
	e, ok, err := in.lookup(path)
	if err != nil || !ok || e.isDir {
		return nil, err
	}
	n := min(e.length, limit)
	if e.offset < firstDescriptor*sectorSize || e.offset+n > in.volumeBytes {
		return nil, nil
	}
	data, err := in.img.read(e.offset, n)
	if err != nil {
		return nil, in.ioFailure(err)
	}
	return data, nil
}

// exists says whether a regular file is at path.
func (in *inspection) exists(path string) (bool, error) {
	e, ok, err := in.lookup(path)
	return ok && !e.isDir, err
}

// firstLine returns the first line of b, cleaned for display.
func firstLine(b []byte) string {
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	return cleanText(b, 200)
}
