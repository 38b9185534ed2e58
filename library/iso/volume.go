package iso

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	// firstDescriptor is the sector of the first volume descriptor; sectors 0-15 are the system area.
	firstDescriptor = 16
	// maxDescriptors bounds the walk of the volume descriptor set; real images have three to six.
	maxDescriptors = 64
)

// Volume descriptor types (ECMA-119 8.1.1).
const (
	vdBootRecord = 0
	vdPrimary    = 1
	vdTerminator = 255
)

var (
	standardID = []byte("CD001")
	elTorito   = []byte("EL TORITO SPECIFICATION")
)

// errPastEnd marks a read of bytes the file does not have: a structural problem of the image, not an I/O failure.
var errPastEnd = errors.New("past the end of the file")

// image reads byte ranges of the user's file, never at or past its size.
type image struct {
	r    io.ReaderAt
	size int64
}

// read returns the n bytes at off, errPastEnd if the file does not hold them all, or the I/O error.
func (m image) read(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > m.size || n > m.size-off {
		return nil, errPastEnd
	}
	buf := make([]byte, n)
	got, err := m.r.ReadAt(buf, off)
	if int64(got) == n {
		return buf, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		// The file shrank under us, or its reported size was wrong.
		return nil, errPastEnd
	}
	return nil, err
}

// inspection is one run of InspectReaderAt.
type inspection struct {
	img  image
	name string
	info Info

	blockSize   int64 // logical block size: directory extents count in these
	volumeBytes int64 // SizeBytes, the bound of every extent
	root        []byte
	catalog     int64 // El Torito boot catalog sector, or -1
	dirs        map[int64][]dirEntry

	treeinfo      []byte // /.treeinfo, first 16 KiB
	alpineRelease []byte // /alpine-release
}

func (in *inspection) run() (Info, error) {
	in.info.FileBytes = in.img.size
	in.catalog = -1
	if in.img.size <= 0 {
		return Info{}, &Error{Name: in.name, Kind: KindEmpty, Detail: "the file is empty"}
	}
	if in.img.size < (firstDescriptor+1)*sectorSize {
		return Info{}, &Error{Name: in.name, Kind: KindTooShort,
			Detail: fmt.Sprintf("it is only %s long, too short to hold one", humanBytes(in.img.size))}
	}
	if err := in.readDescriptors(); err != nil {
		return Info{}, err
	}
	if err := in.readBoot(); err != nil {
		return Info{}, err
	}
	if err := in.readWellKnownFiles(); err != nil {
		return Info{}, err
	}
	in.info.applyDetection(in.detect())

	if in.img.size < in.volumeBytes {
		return in.info, &Error{Name: in.name, Kind: KindTruncated,
			Detail: fmt.Sprintf("the file holds %s of the %s the image declares; was the download interrupted?",
				humanBytes(in.img.size), humanBytes(in.volumeBytes))}
	}
	return in.info, nil
}

// ioFailure turns a read error into the error Inspect returns, or nil for errPastEnd, which callers handle as a
// structural problem.
func (in *inspection) ioFailure(err error) error {
	if err == nil || errors.Is(err, errPastEnd) {
		return nil
	}
	return unreadable(in.name, err)
}

// readDescriptors walks the volume descriptor set from sector 16 to its terminator, keeping the primary volume
// descriptor and the El Torito boot record.
func (in *inspection) readDescriptors() error {
	var pvd []byte
	for i := int64(0); i < maxDescriptors; i++ {
		sec, err := in.img.read((firstDescriptor+i)*sectorSize, sectorSize)
		if err != nil {
			if e := in.ioFailure(err); e != nil {
				return e
			}
			break // a truncated set; the size check reports it
		}
		if !bytes.Equal(sec[1:6], standardID) {
			if i == 0 {
				return &Error{Name: in.name, Kind: KindNoSignature, Detail: in.whyNoSignature(sec)}
			}
			break
		}
		switch sec[0] {
		case vdPrimary:
			if pvd == nil {
				pvd = sec
			}
		case vdBootRecord:
			if in.catalog < 0 && bytes.Equal(bytes.TrimRight(sec[7:39], "\x00 "), elTorito) {
				in.catalog = int64(binary.LittleEndian.Uint32(sec[71:75]))
			}
		}
		if sec[0] == vdTerminator {
			break
		}
	}
	if pvd == nil {
		return &Error{Name: in.name, Kind: KindCorrupt, Detail: "it has no primary volume descriptor"}
	}
	return in.parsePrimary(pvd)
}

// whyNoSignature words the failure for a file without "CD001" at sector 16, naming the formats people confuse
// with CD images.
func (in *inspection) whyNoSignature(sec16 []byte) string {
	if id := string(sec16[1:6]); id == "BEA01" || id == "NSR02" || id == "NSR03" {
		return "it is a UDF-only image, which is not supported"
	}
	if head, err := in.img.read(0, 4); err == nil && bytes.Equal(head, []byte("QFI\xfb")) {
		return "it is a QCOW2 disk image"
	}
	return "it has no ISO 9660 volume descriptor at 32 KiB"
}

// parsePrimary reads the primary volume descriptor (ECMA-119 8.4).
func (in *inspection) parsePrimary(pvd []byte) error {
	in.info.SystemID = cleanID(pvd[8:40])
	in.info.VolumeID = cleanID(pvd[40:72])
	in.info.Publisher = cleanID(pvd[318:446])
	in.info.Application = cleanID(pvd[574:702])

	blocks := int64(binary.LittleEndian.Uint32(pvd[80:84]))
	in.blockSize = int64(binary.LittleEndian.Uint16(pvd[128:130]))
	switch in.blockSize {
	case 512, 1024, 2048:
	default:
		return &Error{Name: in.name, Kind: KindCorrupt,
			Detail: fmt.Sprintf("its volume descriptor gives an impossible block size (%d)", in.blockSize)}
	}
	in.volumeBytes = blocks * in.blockSize
	if in.volumeBytes < (firstDescriptor+1)*sectorSize {
		return &Error{Name: in.name, Kind: KindCorrupt,
			Detail: fmt.Sprintf("its volume descriptor gives an impossible volume size (%d blocks)", blocks)}
	}
	in.info.SizeBytes = in.volumeBytes
	in.root = pvd[156 : 156+34]
	return nil
}

// humanBytes words a size the way a file manager does.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		if n == 1 {
			return "1 byte"
		}
		return fmt.Sprintf("%d bytes", n)
	}
	suffixes := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n) / unit
	i := 0
	for v >= unit && i < len(suffixes)-1 {
		v /= unit
		i++
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), suffixes[i])
	}
	return fmt.Sprintf("%.1f %s", v, suffixes[i])
}
