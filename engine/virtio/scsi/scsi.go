// Package scsi is a virtio SCSI host adapter (virtio 1.2, 5.6) with one logical unit: target 0, LUN 0, a
// read-only CD/DVD-ROM drive (MMC) backed by an ISO image. The host inserts and ejects media at run time; the
// guest learns of a change the way it does from a real drive, through UNIT ATTENTION and GET EVENT STATUS
// NOTIFICATION, which Linux's sr driver and SeaBIOS both poll.
//
// Wiring it into a machine, like any virtio device:
//
//	cd, err := scsi.New(scsi.Options{ISO: "/path/installer.iso"}) // "" for an empty drive
//	fn, err := virtio.NewPCI(cd, guestMemory, msiSender, logger)
//	err = root.Add(fn)
//	...
//	err = cd.Insert("/path/other.iso") // or cd.Eject(), from any goroutine
package scsi

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unicode"

	"paddock/engine/virtio"
)

// TypeSCSI is the virtio device type; the PCI device ID is 0x1048.
const TypeSCSI = virtio.TypeSCSI

// Queue indexes and sizes.
const (
	ControlQueue = 0
	EventQueue   = 1
	RequestQueue = 2

	controlQueueSize = 64
	eventQueueSize   = 64
	requestQueueSize = 256
)

// Configuration layout (virtio 1.2, 5.6.4).
const (
	cfgNumQueues     = 0
	cfgSegMax        = 4
	cfgMaxSectors    = 8
	cfgCmdPerLun     = 12
	cfgEventInfoSize = 16
	cfgSenseSize     = 20
	cfgCDBSize       = 24
	cfgMaxChannel    = 28
	cfgMaxTarget     = 30
	cfgMaxLun        = 32
	configSize       = 36

	// DefaultSenseSize and DefaultCDBSize are the layout a driver gets until it writes its own (and after reset).
	DefaultSenseSize = 96
	DefaultCDBSize   = 32
	maxSenseSize     = 1024
	maxCDBSize       = 256

	// MaxTarget is the highest target number the configuration advertises; only target 0 exists.
	MaxTarget = 0
	segMax    = requestQueueSize - 2
	// maxSectors (512-byte units) bounds one request: 32 MiB.
	maxSectors    = 0xFFFF
	cmdPerLun     = 128
	eventInfoSize = 16
)

// Response codes of virtio_scsi_cmd_resp.response and the control queue (virtio 1.2, 5.6.6).
const (
	RespOK               = 0
	RespOverrun          = 1
	RespAborted          = 2
	RespBadTarget        = 3
	RespReset            = 4
	RespBusy             = 5
	RespTransportFailure = 6
	RespTargetFailure    = 7
	RespNexusFailure     = 8
	RespFailure          = 9
	RespFunctionComplete = 0
	RespFunctionSucceed  = 10
	RespFunctionReject   = 11
	RespIncorrectLUN     = 12
)

// Control queue request types and task management functions (virtio 1.2, 5.6.6.2).
const (
	CtrlTMF         = 0
	CtrlANQuery     = 1
	CtrlANSubscribe = 2

	TMFAbortTask       = 0
	TMFAbortTaskSet    = 1
	TMFClearACA        = 2
	TMFClearTaskSet    = 3
	TMFITNexusReset    = 4
	TMFLogicalUnitRst  = 5
	TMFQueryTask       = 6
	TMFQueryTaskSet    = 7
	tmfRequestSize     = 24 // type, subtype, lun[8], id
	anRequestSize      = 16 // type, lun[8], event_requested
	anResponseSize     = 5  // event_actual, response
	cmdHeaderSize      = 19 // lun[8], id, task_attr, prio, crn; then cdb[cdb_size]
	respHeaderSize     = 12 // sense_len, resid, status_qualifier, status, response; then sense[sense_size]
	respResponseOffset = 11
)

// Options configure a device.
type Options struct {
	// ISO is the image in the drive at power-on; empty means no medium.
	ISO string
	// ISOFile, when set, is that image already opened by OpenImage (or a descriptor of it); the device takes it
	// over. A sandboxed VMM opens its images before it is confined and hands each boot's device its own descriptor.
	ISOFile *os.File
	// Serial is the unit serial number (VPD page 0x80); at most 32 printable ASCII characters. Empty gives
	// "PADDOCK-CD0".
	Serial string
}

// Device is the virtio SCSI adapter and its CD-ROM unit. Insert, Eject and MediumPresent may be called from any
// goroutine.
type Device struct {
	mu   sync.Mutex // guards unit; held for a whole command
	unit unit
	// The driver's layout; atomic so that configuration reads from vCPUs never wait for a command.
	senseSize atomic.Uint32
	cdbSize   atomic.Uint32

	env     *virtio.Env // the worker's alone
	chain   virtio.Chain
	dataIn  [][]byte
	respBuf []byte
}

var _ virtio.Device = (*Device)(nil)

// New makes a device; with opts.ISO set, that image is in the drive.
func New(opts Options) (*Device, error) {
	serial := opts.Serial
	if serial == "" {
		serial = "PADDOCK-CD0"
	}
	if len(serial) > 32 {
		return nil, fmt.Errorf("scsi: serial %q is longer than 32 characters", serial)
	}
	for _, r := range serial {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return nil, fmt.Errorf("scsi: serial %q is not printable ASCII", serial)
		}
	}
	d := &Device{respBuf: make([]byte, respHeaderSize+maxSenseSize)}
	d.senseSize.Store(DefaultSenseSize)
	d.cdbSize.Store(DefaultCDBSize)
	d.unit.serial = serial
	if opts.ISO != "" || opts.ISOFile != nil {
		var m *medium
		var err error
		if opts.ISOFile != nil {
			m, err = checkMedium(opts.ISOFile, opts.ISOFile.Name(), false)
		} else {
			m, err = openMedium(opts.ISO)
		}
		if err != nil {
			return nil, err
		}
		// Present from power-on: no unit attention for it.
		d.unit.medium = m
	}
	return d, nil
}

// Insert puts the image at path in the drive, replacing any medium there and closing the tray. The guest sees
// a unit attention (medium may have changed) and a new-media event.
func (d *Device) Insert(path string) error {
	m, err := openMedium(path)
	if err != nil {
		return err
	}
	d.put(m)
	return nil
}

// put swaps m into the drive and closes what was there.
func (d *Device) put(m *medium) {
	d.mu.Lock()
	old := d.unit.medium
	d.unit.insert(m)
	d.mu.Unlock()
	if old != nil {
		old.close()
	}
}

// Eject removes the medium, even if the guest prevented removal: the host's user decides. The guest sees
// NOT READY (medium not present) and a media-removal event.
func (d *Device) Eject() {
	d.mu.Lock()
	old := d.unit.medium
	d.unit.eject()
	d.mu.Unlock()
	if old != nil {
		old.close()
	}
}

// MediumPresent reports whether an image is in the drive with the tray closed.
func (d *Device) MediumPresent() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.unit.ready()
}

// MediumPath is the path of the image in the drive (even with the tray opened by the guest), or "".
func (d *Device) MediumPath() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.unit.medium == nil {
		return ""
	}
	return d.unit.medium.path
}

func (d *Device) Type() uint16     { return TypeSCSI }
func (d *Device) Features() uint64 { return 0 } // no INOUT, HOTPLUG, CHANGE or T10_PI
func (d *Device) QueueSizes() []uint16 {
	return []uint16{controlQueueSize, eventQueueSize, requestQueueSize}
}
func (d *Device) ConfigSize() int { return configSize }

// ReadConfig serves the configuration; only sense_size and cdb_size change, and only by the driver.
func (d *Device) ReadConfig(offset uint32, data []byte) {
	var c [configSize]byte
	le := binary.LittleEndian
	le.PutUint32(c[cfgNumQueues:], 1)
	le.PutUint32(c[cfgSegMax:], segMax)
	le.PutUint32(c[cfgMaxSectors:], maxSectors)
	le.PutUint32(c[cfgCmdPerLun:], cmdPerLun)
	le.PutUint32(c[cfgEventInfoSize:], eventInfoSize)
	le.PutUint32(c[cfgSenseSize:], d.senseSize.Load())
	le.PutUint32(c[cfgCDBSize:], d.cdbSize.Load())
	le.PutUint16(c[cfgMaxChannel:], 0)
	le.PutUint16(c[cfgMaxTarget:], MaxTarget)
	le.PutUint32(c[cfgMaxLun:], 0)
	clear(data)
	if offset < configSize {
		copy(data, c[offset:])
	}
}

// WriteConfig takes the driver's sense_size and cdb_size (whole 32-bit writes, within sane bounds); other
// fields are read-only.
func (d *Device) WriteConfig(offset uint32, data []byte) {
	if len(data) != 4 {
		return
	}
	v := binary.LittleEndian.Uint32(data)
	switch offset {
	case cfgSenseSize:
		if v <= maxSenseSize {
			d.senseSize.Store(v)
		}
	case cfgCDBSize:
		if v >= 1 && v <= maxCDBSize {
			d.cdbSize.Store(v)
		}
	}
}

func (d *Device) Activate(env *virtio.Env) error {
	d.env = env
	return nil
}

// Reset forgets the driver's layout and the removal lock; the medium stays in the drive.
func (d *Device) Reset() {
	d.env = nil
	d.senseSize.Store(DefaultSenseSize)
	d.cdbSize.Store(DefaultCDBSize)
	d.mu.Lock()
	d.unit.locked = false
	d.mu.Unlock()
}

// Close releases the medium.
func (d *Device) Close() error {
	d.mu.Lock()
	m := d.unit.medium
	d.unit.medium = nil
	d.mu.Unlock()
	if m != nil {
		return m.close()
	}
	return nil
}

// Process services the control and request queues. Event buffers stay queued: no event is ever reported
// (media changes reach the guest through unit attentions, as from a real drive).
func (d *Device) Process(queue int) {
	env := d.env
	if env == nil || queue < 0 || queue >= len(env.Queues) || env.Queues[queue] == nil {
		return
	}
	var handle func(*virtio.Chain) (uint32, error)
	switch queue {
	case ControlQueue:
		handle = d.control
	case RequestQueue:
		handle = d.command
	default:
		return
	}
	env.Serve(queue, &d.chain, nil, handle)
}

// decodeLUN splits a virtio LUN address: lun[0] is 1, lun[1] the target, lun[2..3] the LUN (flat or peripheral
// addressing; the address-method bits are dropped as Linux and SeaBIOS set them).
func decodeLUN(lun []byte) (target int, l uint16, ok bool) {
	if lun[0] != 1 {
		return 0, 0, false
	}
	return int(lun[1]), (uint16(lun[2])<<8 | uint16(lun[3])) & 0x3FFF, true
}

// command runs one request-queue chain and returns the bytes written into it. An error means the chain has no
// room even for the response byte, which no correct driver builds.
func (d *Device) command(c *virtio.Chain) (uint32, error) {
	if c.WritableLen < respHeaderSize {
		return 0, fmt.Errorf("%w: SCSI command with %d writable bytes", virtio.ErrBadQueue, c.WritableLen)
	}
	senseSize := d.senseSize.Load()
	respSize := uint64(respHeaderSize + senseSize)
	reqSize := uint64(cmdHeaderSize + d.cdbSize.Load())
	d.mu.Lock()
	defer d.mu.Unlock()

	d.dataIn = d.dataIn[:0]
	var dataInLen uint64
	if c.WritableLen > respSize {
		skip := respSize
		for _, b := range c.Writable {
			if skip >= uint64(len(b)) {
				skip -= uint64(len(b))
				continue
			}
			d.dataIn = append(d.dataIn, b[skip:])
			dataInLen += uint64(len(b)) - skip
			skip = 0
		}
	}

	var r reply
	if c.ReadableLen < reqSize {
		r = reply{response: RespFailure}
	} else {
		var hdr [cmdHeaderSize + maxCDBSize]byte
		c.CopyFrom(hdr[:reqSize], 0)
		req := request{cdb: hdr[cmdHeaderSize : cmdHeaderSize+max(reqSize-cmdHeaderSize, 16)],
			cdbLen: int(reqSize - cmdHeaderSize), dataOut: c.ReadableLen - reqSize,
			dataIn: d.dataIn, dataInLen: dataInLen, logError: d.logError}
		target, lun, ok := decodeLUN(hdr[:8])
		switch {
		case !ok || target != 0:
			r = reply{response: RespBadTarget}
		default:
			req.lun = lun
			r = d.unit.execute(&req)
		}
	}

	// The response header, with the unused sense area zeroed, then what the command put in data-in.
	if r.response != RespOK {
		r.status, r.transferred = 0, 0
	}
	resp := d.respBuf[:respSize]
	clear(resp)
	var senseLen uint32
	if r.response == RespOK && r.status == StatusCheckCondition {
		sense := r.sense.fixed()
		senseLen = min(uint32(len(sense)), senseSize)
		copy(resp[respHeaderSize:], sense[:senseLen])
	}
	le := binary.LittleEndian
	le.PutUint32(resp[0:], senseLen)
	le.PutUint32(resp[4:], uint32(min(dataInLen-r.transferred, 0xFFFF_FFFF)))
	resp[10] = r.status
	resp[respResponseOffset] = r.response
	if c.WritableLen < respSize {
		// A driver with a smaller sense area than it announced gets what fits, sense_len included.
		room := uint32(c.WritableLen - respHeaderSize)
		if senseLen > room {
			le.PutUint32(resp[0:], room)
		}
		resp = resp[:c.WritableLen]
	}
	c.CopyTo(resp, 0)
	return uint32(min(uint64(len(resp))+r.transferred, 0xFFFF_FFFF)), nil
}

// control answers one control-queue request. Every command completes before the device takes the next chain,
// so there is never a task to abort: task management always succeeds at once.
func (d *Device) control(c *virtio.Chain) (uint32, error) {
	var req [tmfRequestSize]byte
	n := c.CopyFrom(req[:], 0)
	if n < 4 {
		return 0, nil
	}
	le := binary.LittleEndian
	switch le.Uint32(req[0:]) {
	case CtrlTMF:
		resp := byte(RespFunctionComplete)
		if n < tmfRequestSize {
			resp = RespFailure
		} else if target, lun, ok := decodeLUN(req[8:16]); !ok || target != 0 {
			resp = RespBadTarget
		} else if lun != 0 {
			resp = RespIncorrectLUN
		} else {
			switch le.Uint32(req[4:]) {
			case TMFAbortTask, TMFAbortTaskSet, TMFClearACA, TMFClearTaskSet, TMFQueryTask, TMFQueryTaskSet:
			case TMFITNexusReset, TMFLogicalUnitRst:
				d.mu.Lock()
				d.unit.locked = false
				d.mu.Unlock()
			default:
				resp = RespFunctionReject
			}
		}
		return uint32(c.CopyTo([]byte{resp}, 0)), nil
	case CtrlANQuery, CtrlANSubscribe:
		// No asynchronous notification is supported: event_actual is 0.
		var resp [anResponseSize]byte
		resp[4] = RespOK
		if n < anRequestSize {
			resp[4] = RespFailure
		} else if target, _, ok := decodeLUN(req[4:12]); !ok || target != 0 {
			resp[4] = RespBadTarget
		}
		return uint32(c.CopyTo(resp[:], 0)), nil
	}
	return 0, nil
}

func (d *Device) logError(msg string, args ...any) {
	if d.env != nil {
		d.env.Log.Error("scsi: "+msg, args...)
	}
}

// CheckImage says whether an open file can go in the drive (a regular file or block device of whole 2 KiB
// blocks), without taking it.
func CheckImage(f *os.File) error {
	_, err := checkMedium(f, f.Name(), false)
	return err
}

// InsertFile is Insert for an image already opened (by OpenImage, or a descriptor of it passed from another
// process); the device takes f over, also on error.
func (d *Device) InsertFile(f *os.File) error {
	m, err := checkMedium(f, f.Name(), false)
	if err != nil {
		f.Close()
		return err
	}
	d.put(m)
	return nil
}
