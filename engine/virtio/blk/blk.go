// Package blk is the virtio block device over a raw image file. Guest buffers are read and written in place with
// pread/pwrite; a read-only device refuses writes; guest flushes reach the disk with fdatasync.
package blk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"paddock/engine/virtio"
)

// Feature bits, request types and status values (virtio 1.2, 5.2).
const (
	FeatureSizeMax = 1 << 1
	FeatureSegMax  = 1 << 2
	FeatureRO      = 1 << 5
	FeatureFlush   = 1 << 9

	TypeIn    = 0
	TypeOut   = 1
	TypeFlush = 4
	TypeGetID = 8

	StatusOK     = 0
	StatusIOErr  = 1
	StatusUnsupp = 2

	SectorSize = 512
	// SerialMax is the longest serial GET_ID returns.
	SerialMax = 20
	// QueueSize is the request queue's maximum size.
	QueueSize = 256

	headerSize = 16
	configSize = 60
	sizeMax    = 1 << 20 // largest single segment the driver should build
	segMax     = QueueSize - 2
)

// Options configure a block device.
type Options struct {
	ReadOnly bool
	// Serial is returned by GET_ID (at most SerialMax bytes); Linux shows it as /sys/block/vdX/serial.
	Serial string
}

// Device is a virtio-blk device.
type Device struct {
	f        *os.File
	readOnly bool
	capacity uint64 // in sectors
	serial   [SerialMax]byte
	config   [configSize]byte

	env          *virtio.Env
	writeThrough bool // the driver did not take FLUSH, so every write is made durable before completing
	chain        virtio.Chain
}

var _ virtio.Device = (*Device)(nil)

// Open opens a raw image. A writable image is locked exclusively (shared for read-only use) so that two VMs
// never write one disk.
func Open(path string, opts Options) (*Device, error) {
	f, err := OpenImage(path, opts.ReadOnly)
	if err != nil {
		return nil, err
	}
	d, err := New(f, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

// OpenImage opens and locks a raw image file for New: exclusively for read-write, shared for read-only.
func OpenImage(path string, readOnly bool) (*os.File, error) {
	flag, lock := os.O_RDWR, unix.LOCK_EX
	if readOnly {
		flag, lock = os.O_RDONLY, unix.LOCK_SH
	}
	f, err := os.OpenFile(path, flag|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("blk: open disk image: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), lock|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("blk: disk image %s is in use by another process: %w", path, err)
	}
	return f, nil
}

// New makes a device over an image file opened by OpenImage; the device owns f and closes it on Close.
func New(f *os.File, opts Options) (*Device, error) {
	if len(opts.Serial) > SerialMax {
		return nil, fmt.Errorf("blk: serial %q is longer than %d bytes", opts.Serial, SerialMax)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("blk: size of disk image %s: %w", f.Name(), err)
	}
	d := &Device{f: f, readOnly: opts.ReadOnly, capacity: uint64(size) / SectorSize}
	copy(d.serial[:], opts.Serial)
	le := binary.LittleEndian
	le.PutUint64(d.config[0:], d.capacity)
	le.PutUint32(d.config[8:], sizeMax)
	le.PutUint32(d.config[12:], segMax)
	le.PutUint16(d.config[34:], 1) // num_queues
	return d, nil
}

// Capacity is the disk size in 512-byte sectors.
func (d *Device) Capacity() uint64 { return d.capacity }

func (d *Device) Type() uint16 { return virtio.TypeBlock }

func (d *Device) Features() uint64 {
	f := uint64(FeatureSizeMax | FeatureSegMax | FeatureFlush)
	if d.readOnly {
		f |= FeatureRO
	}
	return f
}

func (d *Device) QueueSizes() []uint16 { return []uint16{QueueSize} }
func (d *Device) ConfigSize() int      { return configSize }

// ReadConfig serves the immutable configuration structure.
func (d *Device) ReadConfig(offset uint32, data []byte) { copy(data, d.config[offset:]) }

// WriteConfig ignores writes: writeback (CONFIG_WCE) is not offered.
func (d *Device) WriteConfig(uint32, []byte) {}

func (d *Device) Activate(env *virtio.Env) error {
	d.env = env
	d.writeThrough = env.Features&FeatureFlush == 0
	return nil
}

func (d *Device) Reset() { d.env = nil }

// Close closes the image file.
func (d *Device) Close() error { return d.f.Close() }

// Process completes every available request on the request queue.
func (d *Device) Process(queue int) {
	env := d.env
	if env == nil || queue != 0 || env.Queues[0] == nil {
		return
	}
	env.Serve(0, &d.chain, nil, d.handle)
}

// handle runs one request and returns how many bytes it wrote into the chain. An error means the chain has no
// room for a header or status, which no correct driver builds.
func (d *Device) handle(c *virtio.Chain) (uint32, error) {
	if c.ReadableLen < headerSize || c.WritableLen < 1 {
		return 0, fmt.Errorf("%w: block request with %d readable and %d writable bytes", virtio.ErrBadQueue,
			c.ReadableLen, c.WritableLen)
	}
	var hdr [headerSize]byte
	c.CopyFrom(hdr[:], 0)
	typ := binary.LittleEndian.Uint32(hdr[0:])
	sector := binary.LittleEndian.Uint64(hdr[8:])
	last := c.Writable[len(c.Writable)-1]
	status := &last[len(last)-1]
	inLen := c.WritableLen - 1 // bytes of the writable part before the status byte

	switch typ {
	case TypeIn:
		n, st := d.read(c, sector, inLen)
		*status = st
		return clampLen(n + 1), nil
	case TypeOut:
		*status = d.write(c, sector, c.ReadableLen-headerSize)
		return 1, nil
	case TypeFlush:
		*status = d.flush()
		return 1, nil
	case TypeGetID:
		n := c.CopyTo(d.serial[:min(inLen, SerialMax)], 0)
		*status = StatusOK
		return uint32(n) + 1, nil
	}
	*status = StatusUnsupp
	return 1, nil
}

func clampLen(n uint64) uint32 {
	if n > 0xffff_ffff {
		return 0xffff_ffff
	}
	return uint32(n)
}

// byteRange turns a request's sector and length into a file offset, refusing anything past the end of the disk
// or not a whole number of sectors.
func (d *Device) byteRange(sector, length uint64) (int64, bool) {
	if length%SectorSize != 0 || sector > d.capacity || length/SectorSize > d.capacity-sector {
		return 0, false
	}
	return int64(sector * SectorSize), true
}

// segments calls fn on each buffer of bufs with its file offset, stopping after length bytes.
func segments(bufs [][]byte, skip, length uint64, off int64, fn func(b []byte, off int64) error) error {
	for _, b := range bufs {
		if length == 0 {
			break
		}
		if skip >= uint64(len(b)) {
			skip -= uint64(len(b))
			continue
		}
		b = b[skip:]
		skip = 0
		if uint64(len(b)) > length {
			b = b[:length]
		}
		if err := fn(b, off); err != nil {
			return err
		}
		off += int64(len(b))
		length -= uint64(len(b))
	}
	return nil
}

func (d *Device) read(c *virtio.Chain, sector, length uint64) (uint64, byte) {
	off, ok := d.byteRange(sector, length)
	if !ok {
		return 0, StatusIOErr
	}
	err := segments(c.Writable, 0, length, off, func(b []byte, off int64) error {
		for len(b) > 0 {
			n, err := unix.Pread(int(d.f.Fd()), b, off)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			if n == 0 { // the file shrank under us: what is not there reads as zeros
				clear(b)
				return nil
			}
			b, off = b[n:], off+int64(n)
		}
		return nil
	})
	if err != nil {
		d.logError("read", sector, err)
		return 0, StatusIOErr
	}
	return length, StatusOK
}

func (d *Device) write(c *virtio.Chain, sector, length uint64) byte {
	if d.readOnly {
		return StatusIOErr
	}
	off, ok := d.byteRange(sector, length)
	if !ok {
		return StatusIOErr
	}
	err := segments(c.Readable, headerSize, length, off, func(b []byte, off int64) error {
		for len(b) > 0 {
			n, err := unix.Pwrite(int(d.f.Fd()), b, off)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			if n == 0 {
				return errors.New("short write")
			}
			b, off = b[n:], off+int64(n)
		}
		return nil
	})
	if err == nil && d.writeThrough {
		err = unix.Fdatasync(int(d.f.Fd()))
	}
	if err != nil {
		d.logError("write", sector, err)
		return StatusIOErr
	}
	return StatusOK
}

func (d *Device) flush() byte {
	if d.readOnly {
		return StatusOK
	}
	if err := unix.Fdatasync(int(d.f.Fd())); err != nil {
		d.logError("flush", 0, err)
		return StatusIOErr
	}
	return StatusOK
}

func (d *Device) logError(op string, sector uint64, err error) {
	if d.env != nil {
		d.env.Log.Error("blk: I/O error", "op", op, "sector", sector, "err", err)
	}
}
