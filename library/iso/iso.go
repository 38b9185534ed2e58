// Package iso says what an installer image is before a VM is made from it: it reads the ISO 9660 volume
// descriptors, the El Torito boot catalog and a few well-known files, and names the system ("Debian 12.5.0
// netinst"). The file is the user's and may be anything: every length and address read from it is checked against
// the sizes it declares and the file's own size, and only the few sectors needed are read, so a 10 GB file costs
// the same as a 1 MB one.
package iso

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// sectorSize is the CD sector: volume descriptors and every El Torito address count in these.
const sectorSize = 2048

// Family is the operating system an image installs or runs.
type Family string

// The families the detection rules know.
const (
	FamilyUnknown Family = ""
	FamilyDebian  Family = "debian"
	FamilyUbuntu  Family = "ubuntu"
	FamilyFedora  Family = "fedora"
	FamilyAlpine  Family = "alpine"
)

// Info is what Inspect learnt about an image.
type Info struct {
	// VolumeID is the volume identifier from the primary volume descriptor, trimmed.
	VolumeID string
	// Label names the image for a person: "Debian 12.5.0 netinst", "Ubuntu 24.04 LTS", "Unknown, bootable".
	Label string
	// Family, Version, Edition and Arch are what the detection rules recognised; empty when unknown.
	Family  Family
	Version string
	Edition string // "netinst", "Server", "Workstation Live", "virt", ...
	Arch    string

	// Bootable says that the boot catalog has a usable bootable entry for BIOS or UEFI.
	Bootable     bool
	BIOSBootable bool
	UEFIBootable bool
	// Reason says, when Bootable is false, why: "no El Torito boot record", "boot catalog corrupt: ...".
	Reason string
	// BootEntries lists the boot catalog's entries, in catalog order.
	BootEntries []BootEntry
	// BootLoaders lists the boot loader configurations found: "isolinux", "grub".
	BootLoaders []string

	// SizeBytes is the volume's size as its descriptor declares it (volume space size × logical block size).
	SizeBytes int64
	// FileBytes is the size of the file (or device) itself.
	FileBytes int64

	SystemID    string
	Publisher   string
	Application string
	// DiskInfo is the first line of /.disk/info (Debian and Ubuntu media), if there is one.
	DiskInfo string
}

// Platform is the El Torito platform id of a boot entry.
type Platform uint8

// The platform ids of El Torito 1.0 and its UEFI extension.
const (
	PlatformBIOS    Platform = 0x00
	PlatformPowerPC Platform = 0x01
	PlatformMac     Platform = 0x02
	PlatformUEFI    Platform = 0xEF
)

func (p Platform) String() string {
	switch p {
	case PlatformBIOS:
		return "x86 BIOS"
	case PlatformPowerPC:
		return "PowerPC"
	case PlatformMac:
		return "Mac"
	case PlatformUEFI:
		return "UEFI"
	}
	return fmt.Sprintf("platform 0x%02x", uint8(p))
}

// Media is the emulation an El Torito entry asks for.
type Media uint8

// The boot media types of El Torito 1.0.
const (
	MediaNoEmulation Media = 0
	MediaFloppy12    Media = 1
	MediaFloppy144   Media = 2
	MediaFloppy288   Media = 3
	MediaHardDisk    Media = 4
)

func (m Media) String() string {
	switch m {
	case MediaNoEmulation:
		return "no emulation"
	case MediaFloppy12:
		return "1.2 MB floppy"
	case MediaFloppy144:
		return "1.44 MB floppy"
	case MediaFloppy288:
		return "2.88 MB floppy"
	case MediaHardDisk:
		return "hard disk"
	}
	return fmt.Sprintf("media type %d", uint8(m))
}

// BootEntry is one initial/default or section entry of the boot catalog.
type BootEntry struct {
	Platform    Platform
	Bootable    bool   // boot indicator 0x88
	Media       Media  // low nibble of the media byte
	LoadSegment uint16 // 0 means the traditional 0x07C0
	SectorCount uint16 // 512-byte virtual sectors the BIOS loads
	LoadRBA     uint32 // CD sector of the boot image
	// Usable says the entry is bootable, its media type is known and its image lies inside the volume and the file.
	Usable bool
}

// Kind sorts the errors Inspect returns.
type Kind int

// The kinds of Error.
const (
	// KindEmpty: the file has no bytes.
	KindEmpty Kind = iota + 1
	// KindDirectory: the path is a folder.
	KindDirectory
	// KindNotRegular: a pipe, socket or character device, which Inspect does not open.
	KindNotRegular
	// KindTooShort: the file ends before the first volume descriptor (sector 16).
	KindTooShort
	// KindNoSignature: sector 16 does not hold an ISO 9660 volume descriptor.
	KindNoSignature
	// KindCorrupt: the descriptors are there but unusable (no primary descriptor, impossible sizes).
	KindCorrupt
	// KindUnreadable: the file could not be opened or read.
	KindUnreadable
	// KindTruncated: a real ISO 9660 image whose file is shorter than the volume it declares.
	KindTruncated
)

// Sentinels for errors.Is: every Error is one of these.
var (
	// ErrNotISO: the file is not a CD/DVD image (empty, a folder, too short, wrong signature, corrupt).
	ErrNotISO = errors.New("not a CD/DVD image (ISO 9660)")
	// ErrUnreadable: the file could not be opened or read.
	ErrUnreadable = errors.New("file cannot be read")
	// ErrTruncated: the image is incomplete; Inspect still returns what it read.
	ErrTruncated = errors.New("image is incomplete")
)

// Error is Inspect's failure, worded for the person who chose the file.
type Error struct {
	Name   string // the file's base name
	Kind   Kind
	Detail string // why, in a few words
	Err    error  // the underlying I/O error, if any
}

func (e *Error) Error() string {
	switch e.Kind {
	case KindUnreadable:
		return fmt.Sprintf("%s cannot be read: %s", e.Name, e.Detail)
	case KindTruncated:
		return fmt.Sprintf("%s is an incomplete CD/DVD image: %s", e.Name, e.Detail)
	}
	return fmt.Sprintf("%s is not a CD/DVD image (ISO 9660): %s", e.Name, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of e's kind.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnreadable:
		return e.Kind == KindUnreadable
	case ErrTruncated:
		return e.Kind == KindTruncated
	case ErrNotISO:
		return e.Kind != KindUnreadable && e.Kind != KindTruncated
	}
	return false
}

// Inspect reads the image at path. The error is an *Error; for KindTruncated the returned Info still holds what
// could be read, so a caller may show it next to the warning.
func Inspect(path string) (Info, error) {
	name := filepath.Base(path)
	fi, err := os.Stat(path)
	if err != nil {
		return Info{}, unreadable(name, err)
	}
	switch mode := fi.Mode(); {
	case mode.IsDir():
		return Info{}, &Error{Name: name, Kind: KindDirectory, Detail: "it is a folder"}
	case mode&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeCharDevice|fs.ModeIrregular) != 0:
		// Opening a pipe could block forever.
		return Info{}, &Error{Name: name, Kind: KindNotRegular, Detail: "it is not a regular file"}
	}
	f, err := os.Open(path)
	if err != nil {
		return Info{}, unreadable(name, err)
	}
	defer f.Close()
	size := fi.Size()
	if fi.Mode()&fs.ModeDevice != 0 {
		// A block device (a real CD drive) reports no size through stat.
		if size, err = f.Seek(0, io.SeekEnd); err != nil {
			return Info{}, unreadable(name, err)
		}
	}
	return InspectReaderAt(f, size, name)
}

// InspectReaderAt reads an image of size bytes through r; name is used in error messages only. It reads nothing at
// or past size.
func InspectReaderAt(r io.ReaderAt, size int64, name string) (Info, error) {
	in := &inspection{img: image{r: r, size: size}, name: name, dirs: map[int64][]dirEntry{}}
	return in.run()
}

func unreadable(name string, err error) *Error {
	detail := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		detail = pe.Err.Error()
	}
	return &Error{Name: name, Kind: KindUnreadable, Detail: detail, Err: err}
}
