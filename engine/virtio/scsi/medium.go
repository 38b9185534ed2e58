package scsi

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// BlockSize is the logical block size of CD and DVD media.
const BlockSize = 2048

// cdMaxBlocks is the capacity of an 80-minute CD; larger images are presented as DVD-ROM.
const cdMaxBlocks = 80 * 60 * 75

// medium is one image in the drive.
type medium struct {
	f      *os.File
	path   string
	blocks uint64 // whole 2048-byte blocks; a trailing partial block is not addressable
}

// openMedium opens an image read-only under a shared lock, so that nothing holding it for writing (a VM using
// it as a disk) runs at the same time. A host block device (a real drive) is accepted too; FIFOs, directories
// and other special files are refused without blocking on them.
func openMedium(path string) (*medium, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("scsi: open medium: %w", err)
	}
	m, err := checkMedium(f, path, true)
	if err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

// OpenImage opens and share-locks an image for Options.ISOFile, checking it as Insert would.
func OpenImage(path string) (*os.File, error) {
	m, err := openMedium(path)
	if err != nil {
		return nil, err
	}
	return m.f, nil
}

// checkMedium validates an open image; lock takes the shared lock (a descriptor of a file OpenImage opened shares
// its lock already, and a sandboxed VMM may not call flock).
func checkMedium(f *os.File, path string, lock bool) (*medium, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("scsi: medium %s: %w", path, err)
	}
	mode := st.Mode()
	blockDevice := mode&os.ModeDevice != 0 && mode&os.ModeCharDevice == 0
	if !mode.IsRegular() && !blockDevice {
		return nil, fmt.Errorf("scsi: medium %s is not a regular file or block device", path)
	}
	if lock {
		if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
			return nil, fmt.Errorf("scsi: medium %s is in use for writing by another process: %w", path, err)
		}
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("scsi: size of medium %s: %w", path, err)
	}
	blocks := uint64(size) / BlockSize
	switch {
	case blocks == 0:
		return nil, fmt.Errorf("scsi: medium %s is smaller than one %d-byte block", path, BlockSize)
	case blocks > 0xFFFF_FFFF:
		return nil, fmt.Errorf("scsi: medium %s is larger than READ CAPACITY(10) can describe", path)
	}
	return &medium{f: f, path: path, blocks: blocks}, nil
}

func (m *medium) close() error {
	if err := m.f.Close(); err != nil {
		return fmt.Errorf("scsi: close medium %s: %w", m.path, err)
	}
	return nil
}

// readAt fills b from byte off of the image. What lies past the end of a file that shrank reads as zeros.
func (m *medium) readAt(b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pread(int(m.f.Fd()), b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			clear(b)
			return nil
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}
