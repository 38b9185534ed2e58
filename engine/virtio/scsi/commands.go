package scsi

import (
	"encoding/binary"
	"math"
)

// SCSI status codes.
const (
	StatusGood           = 0x00
	StatusCheckCondition = 0x02
)

// Sense keys.
const (
	KeyNoSense        = 0x0
	KeyNotReady       = 0x2
	KeyMediumError    = 0x3
	KeyIllegalRequest = 0x5
	KeyUnitAttention  = 0x6
)

// Operation codes the unit implements (SPC, SBC, MMC).
const (
	OpTestUnitReady      = 0x00
	OpRequestSense       = 0x03
	OpInquiry            = 0x12
	OpModeSense6         = 0x1A
	OpStartStopUnit      = 0x1B
	OpPreventAllow       = 0x1E
	OpReadCapacity10     = 0x25
	OpRead10             = 0x28
	OpReadTOC            = 0x43
	OpGetConfiguration   = 0x46
	OpGetEventStatus     = 0x4A
	OpReadDiscInfo       = 0x51
	OpModeSense10        = 0x5A
	OpRead16             = 0x88
	OpServiceActionIn16  = 0x9E
	OpReportLUNs         = 0xA0
	OpRead12             = 0xA8
	saReadCapacity16     = 0x10
	fixedSenseLen        = 18
	inquiryStandardLen   = 36
	peripheralCDROM      = 0x05
	peripheralNoLUN      = 0x7F // qualifier 3: no logical unit here
	profileCDROM         = 0x0008
	profileDVDROM        = 0x0010
	modePageErrRecovery  = 0x01
	modePageCapabilities = 0x2A
	modePageAll          = 0x3F
	leadOutTrack         = 0xAA
)

// GET EVENT STATUS NOTIFICATION media event codes (MMC-6, 9.1.2).
const (
	eventNoChange     = 0
	eventNewMedia     = 2
	eventMediaRemoval = 3
)

// Vendor and product identification as INQUIRY reports them.
const (
	VendorID  = "PADDOCK"
	ProductID = "CD-ROM"
	revision  = "1.0"
)

// Sense is a sense key with its additional sense code and qualifier.
type Sense struct{ Key, ASC, ASCQ byte }

var (
	senseNone               = Sense{KeyNoSense, 0x00, 0x00}
	senseNoMedium           = Sense{KeyNotReady, 0x3A, 0x00}
	senseMediumChanged      = Sense{KeyUnitAttention, 0x28, 0x00}
	senseInvalidOpcode      = Sense{KeyIllegalRequest, 0x20, 0x00}
	senseLBAOutOfRange      = Sense{KeyIllegalRequest, 0x21, 0x00}
	senseInvalidField       = Sense{KeyIllegalRequest, 0x24, 0x00}
	senseLUNNotSupported    = Sense{KeyIllegalRequest, 0x25, 0x00}
	senseSavingNotSupported = Sense{KeyIllegalRequest, 0x39, 0x00}
	senseRemovalPrevented   = Sense{KeyIllegalRequest, 0x53, 0x02}
	senseReadError          = Sense{KeyMediumError, 0x11, 0x00}
)

// fixed is the sense in fixed format (response code 0x70, current error).
func (s Sense) fixed() [fixedSenseLen]byte {
	var b [fixedSenseLen]byte
	b[0] = 0x70
	b[2] = s.Key
	b[7] = fixedSenseLen - 8
	b[12], b[13] = s.ASC, s.ASCQ
	return b
}

// request is one command as the unit sees it.
type request struct {
	lun uint16
	// cdb holds the driver's CDB, zero-padded to at least 16 bytes so that fields can be read without checks;
	// cdbLen is how many of its bytes the driver sent.
	cdb       []byte
	cdbLen    int
	dataOut   uint64   // device-readable bytes after the CDB
	dataIn    [][]byte // device-writable buffers after the response header
	dataInLen uint64
	logError  func(msg string, args ...any) // may be nil
}

// reply is a command's outcome.
type reply struct {
	response    byte // virtio response; the rest counts only when it is RespOK
	status      byte
	sense       Sense // when status is CHECK CONDITION
	transferred uint64
}

func good() reply            { return reply{response: RespOK, status: StatusGood} }
func check(s Sense) reply    { return reply{response: RespOK, status: StatusCheckCondition, sense: s} }
func transport(r byte) reply { return reply{response: r} }

// command describes one opcode.
type command struct {
	run func(u *unit, r *request) reply
	// needsMedium commands answer NOT READY without a medium; uaExempt ones never report a unit attention.
	needsMedium, uaExempt bool
	// need is the data-in size the CDB requires (READ transfers); a smaller buffer is an overrun.
	need func(cdb []byte) uint64
}

func lookup(op byte) (command, bool) {
	switch op {
	case OpTestUnitReady:
		return command{run: func(*unit, *request) reply { return good() }, needsMedium: true}, true
	case OpRequestSense:
		return command{run: (*unit).requestSense, uaExempt: true}, true
	case OpInquiry:
		return command{run: (*unit).inquiry, uaExempt: true}, true
	case OpModeSense6, OpModeSense10:
		return command{run: (*unit).modeSense}, true
	case OpStartStopUnit:
		return command{run: (*unit).startStop}, true
	case OpPreventAllow:
		return command{run: (*unit).preventAllow}, true
	case OpReadCapacity10:
		return command{run: (*unit).readCapacity10, needsMedium: true, need: func([]byte) uint64 { return 8 }}, true
	case OpServiceActionIn16:
		return command{run: (*unit).serviceActionIn, needsMedium: true}, true
	case OpRead10, OpRead12, OpRead16:
		return command{run: (*unit).read, needsMedium: true, need: func(cdb []byte) uint64 {
			_, n := readRange(cdb)
			return n * BlockSize
		}}, true
	case OpReadTOC:
		return command{run: (*unit).readTOC, needsMedium: true}, true
	case OpGetConfiguration:
		return command{run: (*unit).getConfiguration, uaExempt: true}, true
	case OpGetEventStatus:
		return command{run: (*unit).getEventStatus, uaExempt: true}, true
	case OpReadDiscInfo:
		return command{run: (*unit).readDiscInfo, needsMedium: true}, true
	case OpReportLUNs:
		return command{run: (*unit).reportLUNs, uaExempt: true}, true
	}
	return command{}, false
}

// cdbLength is the CDB size of op's group (SPC-4, 4.2.5.1).
func cdbLength(op byte) int {
	switch op >> 5 {
	case 0:
		return 6
	case 1, 2:
		return 10
	case 4:
		return 16
	case 5:
		return 12
	}
	return 0
}

// readRange decodes a READ CDB's LBA and transfer length in blocks.
func readRange(cdb []byte) (lba, n uint64) {
	be := binary.BigEndian
	switch cdb[0] {
	case OpRead10:
		return uint64(be.Uint32(cdb[2:])), uint64(be.Uint16(cdb[7:]))
	case OpRead12:
		return uint64(be.Uint32(cdb[2:])), uint64(be.Uint32(cdb[6:]))
	case OpRead16:
		return be.Uint64(cdb[2:]), uint64(be.Uint32(cdb[10:]))
	}
	return 0, 0
}

// unit is the CD-ROM logical unit: the drive, its tray and its medium.
type unit struct {
	serial   string
	medium   *medium
	trayOpen bool // opened by the guest (START STOP UNIT); the medium stays in it
	locked   bool // PREVENT ALLOW MEDIUM REMOVAL
	ua       Sense
	uaSet    bool
	event    byte // pending media event for GET EVENT STATUS NOTIFICATION
}

func (u *unit) ready() bool { return u.medium != nil && !u.trayOpen }

func (u *unit) setUA(s Sense) { u.ua, u.uaSet = s, true }

func (u *unit) insert(m *medium) {
	u.medium, u.trayOpen = m, false
	u.setUA(senseMediumChanged)
	u.event = eventNewMedia
}

func (u *unit) eject() {
	if u.ready() {
		u.event = eventMediaRemoval
	}
	u.medium, u.trayOpen, u.uaSet = nil, false, false
}

// execute runs one command addressed to target 0.
func (u *unit) execute(r *request) reply {
	op := r.cdb[0]
	cmd, known := lookup(op)
	if known {
		switch {
		case r.dataOut > 0:
			return transport(RespOverrun) // no implemented command takes data-out
		case cdbLength(op) > r.cdbLen:
			return check(senseInvalidField)
		case cmd.need != nil && cmd.need(r.cdb) > r.dataInLen:
			return transport(RespOverrun)
		}
	}
	if r.lun != 0 {
		return u.missingLUN(r)
	}
	if u.uaSet && !cmd.uaExempt {
		u.uaSet = false
		return check(u.ua)
	}
	if !known {
		return check(senseInvalidOpcode)
	}
	if cmd.needsMedium && !u.ready() {
		return check(senseNoMedium)
	}
	return cmd.run(u, r)
}

// missingLUN answers commands for a LUN other than 0 on target 0 (SPC-4, 5.11).
func (u *unit) missingLUN(r *request) reply {
	switch r.cdb[0] {
	case OpInquiry:
		var b [inquiryStandardLen]byte
		b[0] = peripheralNoLUN
		if r.cdb[1]&1 != 0 {
			b[1] = r.cdb[2]
			return u.send(r, b[:4], uint64(be16(r.cdb[3:])))
		}
		b[4] = inquiryStandardLen - 5
		return u.send(r, b[:], uint64(be16(r.cdb[3:])))
	case OpReportLUNs:
		return u.reportLUNs(r)
	case OpRequestSense:
		s := senseLUNNotSupported.fixed()
		return u.send(r, s[:], uint64(r.cdb[4]))
	}
	return check(senseLUNNotSupported)
}

// send copies payload, cut to the allocation length, into data-in.
func (u *unit) send(r *request, payload []byte, alloc uint64) reply {
	n := min(uint64(len(payload)), alloc, r.dataInLen)
	p := payload[:n]
	for _, b := range r.dataIn {
		if len(p) == 0 {
			break
		}
		p = p[copy(b, p):]
	}
	rep := good()
	rep.transferred = n
	return rep
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

func (u *unit) requestSense(r *request) reply {
	s := senseNone
	switch {
	case u.uaSet:
		s, u.uaSet = u.ua, false
	case !u.ready():
		s = senseNoMedium
	}
	b := s.fixed()
	return u.send(r, b[:], uint64(r.cdb[4]))
}

func (u *unit) inquiry(r *request) reply {
	evpd, page, alloc := r.cdb[1]&1 != 0, r.cdb[2], uint64(be16(r.cdb[3:]))
	if !evpd {
		if page != 0 {
			return check(senseInvalidField)
		}
		var b [inquiryStandardLen]byte
		b[0] = peripheralCDROM
		b[1] = 0x80 // removable
		b[2] = 0x05 // SPC-3
		b[3] = 0x02 // response data format
		b[4] = inquiryStandardLen - 5
		b[7] = 0x02 // command queuing
		pad(b[8:16], VendorID)
		pad(b[16:32], ProductID)
		pad(b[32:36], revision)
		return u.send(r, b[:], alloc)
	}
	var b []byte
	switch page {
	case 0x00: // supported pages
		b = []byte{peripheralCDROM, 0x00, 0, 3, 0x00, 0x80, 0x83}
	case 0x80: // unit serial number
		b = append([]byte{peripheralCDROM, 0x80, 0, byte(len(u.serial))}, u.serial...)
	case 0x83: // device identification: one T10 vendor ID designator
		id := make([]byte, 8, 8+len(u.serial))
		pad(id, VendorID)
		id = append(id, u.serial...)
		b = append([]byte{peripheralCDROM, 0x83, 0, byte(4 + len(id)), 0x02, 0x01, 0, byte(len(id))}, id...)
	default:
		return check(senseInvalidField)
	}
	return u.send(r, b, alloc)
}

// pad fills dst with s and trailing spaces, as INQUIRY's ASCII fields are.
func pad(dst []byte, s string) {
	n := copy(dst, s)
	for i := n; i < len(dst); i++ {
		dst[i] = ' '
	}
}

// modePage returns mode page code: current values, or zeros where changeable is asked (nothing is).
func (u *unit) modePage(code byte, changeable bool) []byte {
	var p []byte
	switch code {
	case modePageErrRecovery:
		p = make([]byte, 12)
		p[0], p[1] = modePageErrRecovery, 10
	case modePageCapabilities:
		p = make([]byte, 22)
		p[0], p[1] = modePageCapabilities, 20
		if changeable {
			return p
		}
		p[2] = 0x0B // reads CD-R, CD-RW and DVD-ROM media
		p[3] = 0x00 // writes nothing
		p[4] = 0x40 // multi-session
		lock := byte(0)
		if u.locked {
			lock = 0x02
		}
		p[6] = 0x20 | 0x08 | lock | 0x01 // tray loader, eject, lock state, lock supported
		const speed = 24 * 176           // kB/s of a 24x drive
		binary.BigEndian.PutUint16(p[8:], speed)
		binary.BigEndian.PutUint16(p[12:], 512) // buffer KiB
		binary.BigEndian.PutUint16(p[14:], speed)
	}
	return p
}

// modeSense serves MODE SENSE (6) and (10). MMC drives return no block descriptors whatever DBD says, and have
// no device-specific parameter.
func (u *unit) modeSense(r *request) reply {
	ten := r.cdb[0] == OpModeSense10
	pc, page, sub := r.cdb[2]>>6, r.cdb[2]&0x3F, r.cdb[3]
	alloc := uint64(r.cdb[4])
	hdr := 4
	if ten {
		alloc, hdr = uint64(be16(r.cdb[7:])), 8
	}
	if pc == 3 {
		return check(senseSavingNotSupported)
	}
	changeable := pc == 1
	b := make([]byte, hdr, 64)
	switch {
	case page == modePageAll && (sub == 0 || sub == 0xFF):
		b = append(b, u.modePage(modePageErrRecovery, changeable)...)
		b = append(b, u.modePage(modePageCapabilities, changeable)...)
	case sub == 0 && (page == modePageErrRecovery || page == modePageCapabilities):
		b = append(b, u.modePage(page, changeable)...)
	default:
		return check(senseInvalidField)
	}
	if ten {
		binary.BigEndian.PutUint16(b[0:], uint16(len(b)-2))
	} else {
		b[0] = byte(len(b) - 1)
	}
	return u.send(r, b, alloc)
}

func (u *unit) startStop(r *request) reply {
	power, loej, start := r.cdb[4]>>4, r.cdb[4]&2 != 0, r.cdb[4]&1 != 0
	if power != 0 || !loej {
		return good()
	}
	if start { // load: close the tray
		if u.trayOpen {
			u.trayOpen = false
			if u.medium != nil {
				u.setUA(senseMediumChanged)
				u.event = eventNewMedia
			}
		}
		return good()
	}
	if u.locked {
		return check(senseRemovalPrevented)
	}
	if u.ready() {
		u.event = eventMediaRemoval
	}
	u.trayOpen = true
	return good()
}

func (u *unit) preventAllow(r *request) reply {
	u.locked = r.cdb[4]&3 != 0
	return good()
}

func (u *unit) lastLBA() uint32 { return uint32(u.medium.blocks - 1) }

func (u *unit) readCapacity10(r *request) reply {
	var b [8]byte
	binary.BigEndian.PutUint32(b[0:], u.lastLBA())
	binary.BigEndian.PutUint32(b[4:], BlockSize)
	return u.send(r, b[:], 8)
}

func (u *unit) serviceActionIn(r *request) reply {
	if r.cdb[1]&0x1F != saReadCapacity16 {
		return check(senseInvalidField)
	}
	var b [32]byte
	binary.BigEndian.PutUint64(b[0:], uint64(u.lastLBA()))
	binary.BigEndian.PutUint32(b[8:], BlockSize)
	return u.send(r, b[:], uint64(be32(r.cdb[10:])))
}

func (u *unit) read(r *request) reply {
	lba, n := readRange(r.cdb)
	blocks := u.medium.blocks
	if lba > blocks || n > blocks-lba {
		return check(senseLBAOutOfRange)
	}
	left := n * BlockSize // need() made sure data-in holds it
	off := int64(lba * BlockSize)
	for _, b := range r.dataIn {
		if left == 0 {
			break
		}
		if uint64(len(b)) > left {
			b = b[:left]
		}
		if err := u.medium.readAt(b, off); err != nil {
			if r.logError != nil {
				r.logError("read error", "medium", u.medium.path, "offset", off, "err", err)
			}
			return check(senseReadError)
		}
		off += int64(len(b))
		left -= uint64(len(b))
	}
	rep := good()
	rep.transferred = n * BlockSize
	return rep
}

// address writes a TOC address: an LBA, or minutes/seconds/frames counted from the 2-second pregap.
func address(dst []byte, lba uint64, msf bool) {
	if !msf {
		binary.BigEndian.PutUint32(dst, uint32(min(lba, math.MaxUint32)))
		return
	}
	f := lba + 150
	m, s, fr := f/(75*60), f/75%60, f%75
	if m > 0xFF {
		m, s, fr = 0xFF, 59, 74
	}
	dst[0], dst[1], dst[2], dst[3] = 0, byte(m), byte(s), byte(fr)
}

func (u *unit) readTOC(r *request) reply {
	msf := r.cdb[1]&2 != 0
	format := r.cdb[2] & 0x0F
	if format == 0 {
		format = r.cdb[9] >> 6 // the older place of the format field
	}
	track, alloc := r.cdb[6], uint64(be16(r.cdb[7:]))
	const dataTrack = 0x14 // ADR 1 (position), control 4 (data track)
	var b []byte
	switch format {
	case 0: // TOC: track 1 and the lead-out
		b = []byte{0, 0, 1, 1}
		if track > 1 && track != leadOutTrack {
			return check(senseInvalidField)
		}
		if track <= 1 {
			b = append(b, 0, dataTrack, 1, 0, 0, 0, 0, 0)
			address(b[len(b)-4:], 0, msf)
		}
		b = append(b, 0, dataTrack, leadOutTrack, 0, 0, 0, 0, 0)
		address(b[len(b)-4:], u.medium.blocks, msf)
	case 1: // session information: one complete session starting with track 1
		b = []byte{0, 0, 1, 1, 0, dataTrack, 1, 0, 0, 0, 0, 0}
		address(b[8:], 0, msf)
	default:
		return check(senseInvalidField)
	}
	binary.BigEndian.PutUint16(b[0:], uint16(len(b)-2))
	return u.send(r, b, alloc)
}

// profile is the current MMC profile: none without a medium, else CD-ROM or DVD-ROM by size.
func (u *unit) profile() uint16 {
	switch {
	case !u.ready():
		return 0
	case u.medium.blocks > cdMaxBlocks:
		return profileDVDROM
	}
	return profileCDROM
}

func (u *unit) getConfiguration(r *request) reply {
	rt, start, alloc := r.cdb[1]&3, be16(r.cdb[2:]), uint64(be16(r.cdb[7:]))
	if rt == 3 {
		return check(senseInvalidField)
	}
	current := u.profile()
	b := make([]byte, 8, 64)
	binary.BigEndian.PutUint16(b[6:], current)
	feature := func(code uint16, flags byte, data ...byte) {
		// All three features are current and persistent, so RT 0 and 1 select the same ones.
		if rt == 2 && code != start || code < start {
			return
		}
		b = binary.BigEndian.AppendUint16(b, code)
		b = append(b, flags, byte(len(data)))
		b = append(b, data...)
	}
	isCur := func(p uint16) byte {
		if p == current {
			return 1
		}
		return 0
	}
	feature(0x0000, 0x03, // profile list
		byte(profileDVDROM>>8), byte(profileDVDROM), isCur(profileDVDROM), 0,
		byte(profileCDROM>>8), byte(profileCDROM), isCur(profileCDROM), 0)
	feature(0x0001, 0x03, 0, 0, 0, 1)    // core: SCSI physical interface
	feature(0x0003, 0x03, 0x29, 0, 0, 0) // removable medium: tray, eject, lock
	binary.BigEndian.PutUint32(b[0:], uint32(len(b)-4))
	return u.send(r, b, alloc)
}

func (u *unit) getEventStatus(r *request) reply {
	polled, classes, alloc := r.cdb[1]&1 != 0, r.cdb[4], uint64(be16(r.cdb[7:]))
	if !polled {
		return check(senseInvalidField) // asynchronous notification is not supported
	}
	const mediaClass = 4
	if classes&(1<<mediaClass) == 0 {
		b := []byte{0, 2, 0x80, 1 << mediaClass} // no event available
		return u.send(r, b, alloc)
	}
	var status byte
	if u.trayOpen {
		status |= 1
	}
	if u.ready() {
		status |= 2
	}
	b := []byte{0, 6, mediaClass, 1 << mediaClass, u.event, status, 0, 0}
	u.event = eventNoChange
	return u.send(r, b, alloc)
}

func (u *unit) readDiscInfo(r *request) reply {
	if r.cdb[1]&7 != 0 {
		return check(senseInvalidField)
	}
	b := make([]byte, 34)
	binary.BigEndian.PutUint16(b[0:], 32)
	b[2] = 0x0E // last session complete, disc complete
	b[3] = 1    // first track
	b[4] = 1    // sessions
	b[5] = 1    // first track of the last session
	b[6] = 1    // last track of the last session
	b[7] = 0x20 // unrestricted use
	for i := 16; i < 24; i++ {
		b[i] = 0xFF // no lead-in or lead-out addresses: the disc is complete
	}
	return u.send(r, b, uint64(be16(r.cdb[7:])))
}

func (u *unit) reportLUNs(r *request) reply {
	alloc := uint64(be32(r.cdb[6:]))
	if alloc < 16 {
		return check(senseInvalidField)
	}
	b := make([]byte, 16)
	switch r.cdb[2] {
	case 0x00, 0x02: // LUN 0 alone
		binary.BigEndian.PutUint32(b[0:], 8)
	case 0x01: // well-known LUNs: none
		b = b[:8]
	default:
		return check(senseInvalidField)
	}
	return u.send(r, b, alloc)
}
