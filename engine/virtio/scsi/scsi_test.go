package scsi_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"paddock/engine/virtio"
	"paddock/engine/virtio/scsi"
	"paddock/engine/virtio/virtiotest"
)

const (
	wait        = 2 * time.Second
	isoBlocks   = 2560 // 5 MiB
	reqSize     = 19 + scsi.DefaultCDBSize
	respSize    = 12 + scsi.DefaultSenseSize
	dataBufSize = 1 << 20
	features    = virtio.FeatureVersion1 | virtio.FeatureRingIndirectDesc
)

// writeISO makes an image of random content with the given number of 2048-byte blocks.
func writeISO(t testing.TB, name string, blocks int, seed uint64) (string, []byte) {
	t.Helper()
	content := make([]byte, blocks*scsi.BlockSize)
	rnd := rand.New(rand.NewPCG(seed, 7))
	for i := range content {
		content[i] = byte(rnd.Uint32())
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, content
}

type hba struct {
	t         testing.TB
	m         *virtiotest.Machine
	d         *virtiotest.Driver
	dev       *scsi.Device
	req, resp uint64
	data      uint64
	out       uint64
}

func attach(t testing.TB, dev *scsi.Device) *hba {
	t.Helper()
	m, err := virtiotest.NewMachine(8 << 20)
	if err != nil {
		t.Fatal(err)
	}
	fn, d, err := m.Attach(dev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fn.Close() })
	if d.DeviceID != 0x1048 {
		t.Fatalf("PCI device ID %#x", d.DeviceID)
	}
	if err := d.Setup(features, 3); err != nil {
		t.Fatal(err)
	}
	h := &hba{t: t, m: m, d: d, dev: dev}
	h.req, _ = m.Alloc(512, 16)
	h.resp, _ = m.Alloc(2048, 16)
	h.out, _ = m.Alloc(4096, 16)
	h.data, _ = m.Alloc(dataBufSize, 4096)
	return h
}

func newHBA(t testing.TB, iso string) *hba {
	t.Helper()
	dev, err := scsi.New(scsi.Options{ISO: iso})
	if err != nil {
		t.Fatal(err)
	}
	return attach(t, dev)
}

// result is a virtio_scsi_cmd_resp as the driver reads it, with the data-in bytes.
type result struct {
	senseLen, resid uint32
	status          byte
	response        byte
	sense           []byte
	data            []byte
	used            uint32
}

func (r result) key() (byte, byte, byte) {
	if len(r.sense) < 14 {
		return 0xFF, 0xFF, 0xFF
	}
	return r.sense[2] & 0xF, r.sense[12], r.sense[13]
}

// cmd describes one command.
type cmd struct {
	target, lun byte
	cdb         []byte
	dataIn      uint32 // bytes of data-in buffer
	dataOut     uint32
	split       []uint32 // data-in split into buffers of these sizes instead
}

func (h *hba) run(c cmd) result {
	h.t.Helper()
	ram := h.m.RAM
	clear(ram[h.req : h.req+reqSize])
	ram[h.req], ram[h.req+1], ram[h.req+2], ram[h.req+3] = 1, c.target, 0x40, c.lun
	binary.LittleEndian.PutUint64(ram[h.req+8:], 0x1234)
	copy(ram[h.req+19:h.req+reqSize], c.cdb)
	for i := range ram[h.resp : h.resp+respSize] {
		ram[h.resp+uint64(i)] = 0xEE
	}
	bufs := []virtiotest.Buf{{Addr: h.req, Len: reqSize}}
	if c.dataOut > 0 {
		bufs = append(bufs, virtiotest.Buf{Addr: h.out, Len: c.dataOut})
	}
	bufs = append(bufs, virtiotest.Buf{Addr: h.resp, Len: respSize, Write: true})
	total := c.dataIn
	if c.split != nil {
		addr := h.data
		total = 0
		for _, n := range c.split {
			bufs = append(bufs, virtiotest.Buf{Addr: addr, Len: n, Write: true})
			addr += uint64(n) + 64 // gaps, so that a buffer boundary is a real one
			total += n
		}
	} else if c.dataIn > 0 {
		bufs = append(bufs, virtiotest.Buf{Addr: h.data, Len: c.dataIn, Write: true})
	}
	clear(ram[h.data : h.data+dataBufSize])
	used, err := h.d.Queues[scsi.RequestQueue].Submit(bufs, wait)
	if err != nil {
		h.t.Fatal(err)
	}
	r := h.parse(h.resp, used)
	if c.split != nil {
		addr := h.data
		for _, n := range c.split {
			r.data = append(r.data, ram[addr:addr+uint64(n)]...)
			addr += uint64(n) + 64
		}
	} else {
		r.data = append([]byte(nil), ram[h.data:h.data+uint64(c.dataIn)]...)
	}
	if r.response == scsi.RespOK && r.resid > total {
		h.t.Fatalf("resid %d larger than the %d-byte data-in buffer", r.resid, total)
	}
	return r
}

func (h *hba) parse(at uint64, used uint32) result {
	ram := h.m.RAM
	r := result{
		senseLen: binary.LittleEndian.Uint32(ram[at:]),
		resid:    binary.LittleEndian.Uint32(ram[at+4:]),
		status:   ram[at+10], response: ram[at+11], used: used,
	}
	if r.senseLen > scsi.DefaultSenseSize {
		h.t.Fatalf("sense_len %d", r.senseLen)
	}
	r.sense = append([]byte(nil), ram[at+12:at+12+uint64(r.senseLen)]...)
	return r
}

// good runs c and fails unless it completed with GOOD status; it returns the transferred data.
func (h *hba) good(c cmd) []byte {
	h.t.Helper()
	r := h.run(c)
	if r.response != scsi.RespOK || r.status != scsi.StatusGood {
		k, asc, ascq := r.key()
		h.t.Fatalf("cdb % x: response %d status %#x sense %x/%02x/%02x", c.cdb, r.response, r.status, k, asc, ascq)
	}
	return r.data[:c.dataIn-r.resid]
}

// expectSense runs c and fails unless it ended in CHECK CONDITION with the given sense.
func (h *hba) expectSense(c cmd, key, asc, ascq byte) {
	h.t.Helper()
	r := h.run(c)
	k, a, q := r.key()
	if r.response != scsi.RespOK || r.status != scsi.StatusCheckCondition || k != key || a != asc || q != ascq {
		h.t.Fatalf("cdb % x: response %d status %#x sense %x/%02x/%02x, want CHECK CONDITION %x/%02x/%02x",
			c.cdb, r.response, r.status, k, a, q, key, asc, ascq)
	}
	if r.senseLen != 18 || r.sense[0] != 0x70 || r.sense[7] != 10 {
		h.t.Fatalf("sense is not 18 bytes of fixed format: % x", r.sense)
	}
	if r.resid != c.dataIn {
		h.t.Fatalf("failed command moved data: resid %d of %d", r.resid, c.dataIn)
	}
}

func read10(lba uint32, n uint16) []byte {
	c := make([]byte, 10)
	c[0] = scsi.OpRead10
	binary.BigEndian.PutUint32(c[2:], lba)
	binary.BigEndian.PutUint16(c[7:], n)
	return c
}

func read12(lba, n uint32) []byte {
	c := make([]byte, 12)
	c[0] = scsi.OpRead12
	binary.BigEndian.PutUint32(c[2:], lba)
	binary.BigEndian.PutUint32(c[6:], n)
	return c
}

func read16(lba uint64, n uint32) []byte {
	c := make([]byte, 16)
	c[0] = scsi.OpRead16
	binary.BigEndian.PutUint64(c[2:], lba)
	binary.BigEndian.PutUint32(c[10:], n)
	return c
}

func alloc10(op byte, b1, b2 byte, alloc uint16) []byte {
	c := []byte{op, b1, b2, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(c[7:], alloc)
	return c
}

var tur = []byte{scsi.OpTestUnitReady, 0, 0, 0, 0, 0}

func TestConfiguration(t *testing.T) {
	h := newHBA(t, "")
	le := func(off uint32, n int) uint64 { return h.d.DeviceConfigRead(off, n) }
	if le(0, 4) != 1 || le(20, 4) != 96 || le(24, 4) != 32 || le(28, 2) != 0 || le(30, 2) != scsi.MaxTarget ||
		le(32, 4) != 0 || le(16, 4) != 16 {
		t.Fatalf("num_queues %d sense %d cdb %d channel %d target %d lun %d event_info %d",
			le(0, 4), le(20, 4), le(24, 4), le(28, 2), le(30, 2), le(32, 4), le(16, 4))
	}
	if s := le(4, 4); s == 0 || s > 254 {
		t.Fatalf("seg_max %d", s)
	}
	if le(8, 4) == 0 || le(12, 4) == 0 {
		t.Fatal("max_sectors or cmd_per_lun is zero")
	}
}

func TestInquiry(t *testing.T) {
	h := newHBA(t, "")
	b := h.good(cmd{cdb: []byte{scsi.OpInquiry, 0, 0, 0, 96, 0}, dataIn: 96})
	if len(b) != 36 || b[0] != 0x05 || b[1]&0x80 == 0 || b[4] != 31 {
		t.Fatalf("standard INQUIRY % x", b)
	}
	if v, p := string(b[8:16]), string(b[16:32]); v != "PADDOCK " || p != "CD-ROM          " {
		t.Fatalf("vendor %q product %q", v, p)
	}
	// Allocation length shorter than the data: exactly that many bytes, the rest of the buffer is residual.
	r := h.run(cmd{cdb: []byte{scsi.OpInquiry, 0, 0, 0, 5, 0}, dataIn: 64})
	if r.status != scsi.StatusGood || r.resid != 59 || r.data[5] != 0 || r.data[0] != 5 {
		t.Fatalf("INQUIRY alloc 5: status %d resid %d data % x", r.status, r.resid, r.data[:8])
	}
	// A buffer smaller than the allocation length gets what fits.
	if r := h.run(cmd{cdb: []byte{scsi.OpInquiry, 0, 0, 0, 255, 0}, dataIn: 8}); r.status != 0 || r.resid != 0 {
		t.Fatalf("INQUIRY into 8 bytes: status %d resid %d", r.status, r.resid)
	}
	pages := h.good(cmd{cdb: []byte{scsi.OpInquiry, 1, 0x00, 0, 255, 0}, dataIn: 255})
	if !bytes.Equal(pages, []byte{5, 0, 0, 3, 0x00, 0x80, 0x83}) {
		t.Fatalf("VPD 0x00 % x", pages)
	}
	serial := h.good(cmd{cdb: []byte{scsi.OpInquiry, 1, 0x80, 0, 255, 0}, dataIn: 255})
	if string(serial[4:]) != "PADDOCK-CD0" || int(serial[3]) != len(serial)-4 {
		t.Fatalf("VPD 0x80 % x", serial)
	}
	id := h.good(cmd{cdb: []byte{scsi.OpInquiry, 1, 0x83, 0, 255, 0}, dataIn: 255})
	if id[1] != 0x83 || int(id[3]) != len(id)-4 || id[5]&0xF != 1 || string(id[8:16]) != "PADDOCK " {
		t.Fatalf("VPD 0x83 % x", id)
	}
	h.expectSense(cmd{cdb: []byte{scsi.OpInquiry, 1, 0xB0, 0, 255, 0}, dataIn: 255}, 5, 0x24, 0)
	h.expectSense(cmd{cdb: []byte{scsi.OpInquiry, 0, 0x80, 0, 255, 0}, dataIn: 255}, 5, 0x24, 0)
}

func TestReadCapacityAndRead(t *testing.T) {
	iso, content := writeISO(t, "a.iso", isoBlocks, 1)
	h := newHBA(t, iso)
	capa := h.good(cmd{cdb: []byte{scsi.OpReadCapacity10, 0, 0, 0, 0, 0, 0, 0, 0, 0}, dataIn: 8})
	if binary.BigEndian.Uint32(capa) != isoBlocks-1 || binary.BigEndian.Uint32(capa[4:]) != 2048 {
		t.Fatalf("READ CAPACITY % x", capa)
	}
	c16 := make([]byte, 16)
	c16[0], c16[1], c16[13] = scsi.OpServiceActionIn16, 0x10, 32
	if b := h.good(cmd{cdb: c16, dataIn: 32}); binary.BigEndian.Uint64(b) != isoBlocks-1 ||
		binary.BigEndian.Uint32(b[8:]) != 2048 {
		t.Fatalf("READ CAPACITY(16) % x", b)
	}
	block := func(lba, n int) []byte { return content[lba*2048 : (lba+n)*2048] }
	for _, tc := range []struct {
		cdb    []byte
		lba, n int
	}{
		{read10(0, 1), 0, 1}, {read10(16, 16), 16, 16}, {read10(isoBlocks-1, 1), isoBlocks - 1, 1},
		{read12(100, 300), 100, 300}, {read16(isoBlocks-8, 8), isoBlocks - 8, 8}, {read10(7, 0), 7, 0},
	} {
		want := block(tc.lba, tc.n)
		r := h.run(cmd{cdb: tc.cdb, dataIn: uint32(len(want)) + 4096})
		if r.status != scsi.StatusGood || r.response != 0 || r.resid != 4096 || r.senseLen != 0 {
			t.Fatalf("cdb % x: response %d status %d resid %d", tc.cdb, r.response, r.status, r.resid)
		}
		if !bytes.Equal(r.data[:len(want)], want) {
			t.Fatalf("cdb % x: data differs from the image", tc.cdb)
		}
		if r.used != respSize+uint32(len(want)) {
			t.Fatalf("cdb % x: used length %d", tc.cdb, r.used)
		}
	}
	// One read scattered over odd-sized buffers.
	r := h.run(cmd{cdb: read10(33, 5), split: []uint32{1, 2047, 3000, 4192, 1000}})
	if r.status != 0 || r.resid != 0 || !bytes.Equal(r.data, block(33, 5)) {
		t.Fatalf("scattered read: status %d resid %d equal %v", r.status, r.resid, bytes.Equal(r.data, block(33, 5)))
	}
	for _, c := range [][]byte{read10(isoBlocks, 1), read10(isoBlocks-1, 2), read12(0xFFFF_FFFF, 1),
		read16(1<<63, 1), read16(0xFFFF_FFFF_FFFF_FFFF, 2)} {
		h.expectSense(cmd{cdb: c, dataIn: 4096}, 5, 0x21, 0)
	}
	// A transfer larger than the data-in buffer is an overrun; nothing is written.
	if r := h.run(cmd{cdb: read10(0, 3), dataIn: 3*2048 - 1}); r.response != scsi.RespOverrun ||
		r.data[0] != 0 {
		t.Fatalf("short data-in: response %d", r.response)
	}
	// Data-out on a read command.
	if r := h.run(cmd{cdb: read10(0, 1), dataIn: 2048, dataOut: 512}); r.response != scsi.RespOverrun {
		t.Fatalf("data-out on READ: response %d", r.response)
	}
}

func TestMediaChange(t *testing.T) {
	isoA, _ := writeISO(t, "a.iso", isoBlocks, 1)
	isoB, contentB := writeISO(t, "b.iso", 100, 2)
	h := newHBA(t, isoA)
	h.good(cmd{cdb: tur})
	if !h.dev.MediumPresent() || h.dev.MediumPath() != isoA {
		t.Fatal("medium not present at power-on")
	}
	h.dev.Eject()
	if h.dev.MediumPresent() {
		t.Fatal("MediumPresent after Eject")
	}
	h.expectSense(cmd{cdb: tur}, 2, 0x3A, 0)
	h.expectSense(cmd{cdb: read10(0, 1), dataIn: 2048}, 2, 0x3A, 0)
	if s := h.good(cmd{cdb: []byte{scsi.OpRequestSense, 0, 0, 0, 18, 0}, dataIn: 18}); s[0] != 0x70 ||
		s[2] != 2 || s[12] != 0x3A {
		t.Fatalf("REQUEST SENSE without medium % x", s)
	}
	if ev, st := gesnMedia(t, h); ev != 3 || st != 0 {
		t.Fatalf("GESN after eject: event %d status %#x", ev, st)
	}
	if err := h.dev.Insert(isoB); err != nil {
		t.Fatal(err)
	}
	// INQUIRY, GET CONFIGURATION and GESN do not consume the unit attention.
	h.good(cmd{cdb: []byte{scsi.OpInquiry, 0, 0, 0, 36, 0}, dataIn: 36})
	if ev, st := gesnMedia(t, h); ev != 2 || st != 2 {
		t.Fatalf("GESN after insert: event %d status %#x", ev, st)
	}
	if ev, _ := gesnMedia(t, h); ev != 0 {
		t.Fatalf("GESN event %d reported twice", ev)
	}
	h.expectSense(cmd{cdb: tur}, 6, 0x28, 0)
	h.good(cmd{cdb: tur})
	if got := h.good(cmd{cdb: read10(99, 1), dataIn: 2048}); !bytes.Equal(got, contentB[99*2048:]) {
		t.Fatal("read after insert is not the new image")
	}
	h.expectSense(cmd{cdb: read10(100, 1), dataIn: 2048}, 5, 0x21, 0)

	// The unit attention is also reported through REQUEST SENSE, once.
	if err := h.dev.Insert(isoA); err != nil {
		t.Fatal(err)
	}
	if s := h.good(cmd{cdb: []byte{scsi.OpRequestSense, 0, 0, 0, 252, 0}, dataIn: 252}); len(s) != 18 ||
		s[2] != 6 || s[12] != 0x28 {
		t.Fatalf("REQUEST SENSE with a unit attention % x", s)
	}
	h.good(cmd{cdb: tur})

	// The guest's own eject, refused while it prevents removal.
	h.good(cmd{cdb: []byte{scsi.OpPreventAllow, 0, 0, 0, 1, 0}})
	h.expectSense(cmd{cdb: []byte{scsi.OpStartStopUnit, 0, 0, 0, 2, 0}}, 5, 0x53, 0x02)
	h.good(cmd{cdb: []byte{scsi.OpPreventAllow, 0, 0, 0, 0, 0}})
	h.good(cmd{cdb: []byte{scsi.OpStartStopUnit, 0, 0, 0, 2, 0}})
	h.expectSense(cmd{cdb: tur}, 2, 0x3A, 0)
	if h.dev.MediumPresent() || h.dev.MediumPath() != isoA {
		t.Fatal("after the guest's eject the tray should be open with the medium in it")
	}
	h.good(cmd{cdb: []byte{scsi.OpStartStopUnit, 0, 0, 0, 3, 0}})
	h.expectSense(cmd{cdb: tur}, 6, 0x28, 0)
	h.good(cmd{cdb: tur})
}

func gesnMedia(t *testing.T, h *hba) (event, status byte) {
	t.Helper()
	c := alloc10(scsi.OpGetEventStatus, 1, 0, 8)
	c[4] = 0x10 // media class
	b := h.good(cmd{cdb: c, dataIn: 8})
	if len(b) != 8 || b[0] != 0 || b[1] != 6 || b[2] != 4 || b[3] != 0x10 {
		t.Fatalf("GESN % x", b)
	}
	return b[4] & 0xF, b[5]
}

func TestEventStatusWithoutMediaClass(t *testing.T) {
	h := newHBA(t, "")
	c := alloc10(scsi.OpGetEventStatus, 1, 0, 8)
	c[4] = 0x02 // operational change class only
	if b := h.good(cmd{cdb: c, dataIn: 8}); !bytes.Equal(b, []byte{0, 2, 0x80, 0x10}) {
		t.Fatalf("GESN for an unsupported class % x", b)
	}
	h.expectSense(cmd{cdb: alloc10(scsi.OpGetEventStatus, 0, 0, 8), dataIn: 8}, 5, 0x24, 0) // not polled
}

func TestNoMediumAtStart(t *testing.T) {
	h := newHBA(t, "")
	h.expectSense(cmd{cdb: tur}, 2, 0x3A, 0)
	h.expectSense(cmd{cdb: []byte{scsi.OpReadCapacity10, 0, 0, 0, 0, 0, 0, 0, 0, 0}, dataIn: 8}, 2, 0x3A, 0)
	h.expectSense(cmd{cdb: alloc10(scsi.OpReadTOC, 0, 0, 100), dataIn: 100}, 2, 0x3A, 0)
	if h.dev.MediumPresent() {
		t.Fatal("MediumPresent with no ISO")
	}
}

func TestModeSense(t *testing.T) {
	iso, _ := writeISO(t, "a.iso", isoBlocks, 1)
	h := newHBA(t, iso)
	// MODE SENSE(10), capabilities page, DBD clear: still no block descriptor on an MMC drive.
	b := h.good(cmd{cdb: alloc10(scsi.OpModeSense10, 0, 0x2A, 255), dataIn: 255})
	if binary.BigEndian.Uint16(b) != uint16(len(b)-2) || binary.BigEndian.Uint16(b[6:]) != 0 || len(b) != 8+22 {
		t.Fatalf("MODE SENSE(10) 0x2A header % x (len %d)", b[:8], len(b))
	}
	p := b[8:]
	if p[0] != 0x2A || p[1] != 20 || p[2]&0x08 == 0 || p[3] != 0 || p[6]&0x08 == 0 || p[6]>>5 != 1 {
		t.Fatalf("capabilities page % x", p)
	}
	if p[6]&0x02 != 0 {
		t.Fatal("lock state set before PREVENT")
	}
	h.good(cmd{cdb: []byte{scsi.OpPreventAllow, 0, 0, 0, 1, 0}})
	if b := h.good(cmd{cdb: alloc10(scsi.OpModeSense10, 0, 0x2A, 255), dataIn: 255}); b[8+6]&0x02 == 0 {
		t.Fatal("lock state clear after PREVENT")
	}
	// MODE SENSE(6), all pages, DBD set.
	b = h.good(cmd{cdb: []byte{scsi.OpModeSense6, 0x08, 0x3F, 0, 255, 0}, dataIn: 255})
	if int(b[0]) != len(b)-1 || b[3] != 0 || b[4] != 0x01 || b[4+12] != 0x2A {
		t.Fatalf("MODE SENSE(6) 0x3F % x", b)
	}
	// Truncated by the allocation length: the mode data length still tells the whole size.
	r := h.run(cmd{cdb: []byte{scsi.OpModeSense6, 0, 0x3F, 0, 6, 0}, dataIn: 64})
	if r.status != 0 || r.resid != 58 || int(r.data[0]) != len(b)-1 {
		t.Fatalf("truncated MODE SENSE: status %d resid %d", r.status, r.resid)
	}
	// Changeable values: nothing is.
	b = h.good(cmd{cdb: alloc10(scsi.OpModeSense10, 0, 0x40|0x2A, 255), dataIn: 255})
	if !bytes.Equal(b[10:], make([]byte, 20)) {
		t.Fatalf("changeable values % x", b[8:])
	}
	h.expectSense(cmd{cdb: alloc10(scsi.OpModeSense10, 0, 0xC0|0x2A, 255), dataIn: 255}, 5, 0x39, 0)
	h.expectSense(cmd{cdb: alloc10(scsi.OpModeSense10, 0, 0x08, 255), dataIn: 255}, 5, 0x24, 0)
	h.expectSense(cmd{cdb: []byte{scsi.OpModeSense6, 0, 0x2A, 1, 255, 0}, dataIn: 255}, 5, 0x24, 0)
}

func TestReadTOC(t *testing.T) {
	iso, _ := writeISO(t, "a.iso", isoBlocks, 1)
	h := newHBA(t, iso)
	b := h.good(cmd{cdb: alloc10(scsi.OpReadTOC, 0, 0, 100), dataIn: 100})
	want := []byte{0, 18, 1, 1, 0, 0x14, 1, 0, 0, 0, 0, 0, 0, 0x14, 0xAA, 0, 0, 0, 0x0A, 0x00}
	if !bytes.Equal(b, want) {
		t.Fatalf("TOC (LBA)\n got % x\nwant % x", b, want)
	}
	// MSF: track 1 at 00:02:00, lead-out at 2560+150 frames = 00:36:10.
	b = h.good(cmd{cdb: alloc10(scsi.OpReadTOC, 2, 0, 100), dataIn: 100})
	want = []byte{0, 18, 1, 1, 0, 0x14, 1, 0, 0, 0, 2, 0, 0, 0x14, 0xAA, 0, 0, 0, 36, 10}
	if !bytes.Equal(b, want) {
		t.Fatalf("TOC (MSF)\n got % x\nwant % x", b, want)
	}
	c := alloc10(scsi.OpReadTOC, 0, 0, 100)
	c[6] = 0xAA
	if b := h.good(cmd{cdb: c, dataIn: 100}); len(b) != 12 || b[6] != 0xAA {
		t.Fatalf("TOC from the lead-out % x", b)
	}
	c[6] = 2
	h.expectSense(cmd{cdb: c, dataIn: 100}, 5, 0x24, 0)
	if b := h.good(cmd{cdb: alloc10(scsi.OpReadTOC, 0, 1, 100), dataIn: 100}); len(b) != 12 || b[1] != 10 ||
		b[6] != 1 {
		t.Fatalf("session info % x", b)
	}
	h.expectSense(cmd{cdb: alloc10(scsi.OpReadTOC, 0, 5, 100), dataIn: 100}, 5, 0x24, 0)
	// Allocation length 4: the header alone, length field unchanged.
	if r := h.run(cmd{cdb: alloc10(scsi.OpReadTOC, 0, 0, 4), dataIn: 100}); r.resid != 96 || r.data[1] != 18 {
		t.Fatalf("TOC alloc 4: resid %d % x", r.resid, r.data[:4])
	}
	di := h.good(cmd{cdb: alloc10(scsi.OpReadDiscInfo, 0, 0, 34), dataIn: 34})
	if len(di) != 34 || binary.BigEndian.Uint16(di) != 32 || di[2]&3 != 2 || di[3] != 1 {
		t.Fatalf("READ DISC INFORMATION % x", di)
	}
}

func TestGetConfiguration(t *testing.T) {
	iso, _ := writeISO(t, "a.iso", isoBlocks, 1)
	h := newHBA(t, iso)
	b := h.good(cmd{cdb: alloc10(scsi.OpGetConfiguration, 0, 0, 512), dataIn: 512})
	if binary.BigEndian.Uint32(b) != uint32(len(b)-4) || binary.BigEndian.Uint16(b[6:]) != 0x0008 {
		t.Fatalf("GET CONFIGURATION header % x", b[:8])
	}
	// Profile list: DVD-ROM (not current), CD-ROM (current).
	if !bytes.Equal(b[8:20], []byte{0, 0, 3, 8, 0, 0x10, 0, 0, 0, 0x08, 1, 0}) {
		t.Fatalf("profile list % x", b[8:20])
	}
	// RT 2: only the feature asked for.
	c := alloc10(scsi.OpGetConfiguration, 2, 0, 512)
	c[3] = 0x03
	if b := h.good(cmd{cdb: c, dataIn: 512}); len(b) != 16 || b[9] != 0x03 {
		t.Fatalf("RT 2 feature 3: % x", b)
	}
	c[3] = 0x24
	if b := h.good(cmd{cdb: c, dataIn: 512}); len(b) != 8 {
		t.Fatalf("RT 2 of an absent feature: % x", b)
	}
	h.expectSense(cmd{cdb: alloc10(scsi.OpGetConfiguration, 3, 0, 512), dataIn: 512}, 5, 0x24, 0)

	// A DVD-sized image (sparse) is DVD-ROM; no medium is profile 0.
	dvd := filepath.Join(t.TempDir(), "dvd.iso")
	f, _ := os.Create(dvd)
	f.Truncate(1 << 30)
	f.Close()
	if err := h.dev.Insert(dvd); err != nil {
		t.Fatal(err)
	}
	if b := h.good(cmd{cdb: alloc10(scsi.OpGetConfiguration, 1, 0, 8), dataIn: 8}); binary.BigEndian.Uint16(b[6:]) != 0x0010 {
		t.Fatalf("DVD profile % x", b)
	}
	h.dev.Eject()
	if b := h.good(cmd{cdb: alloc10(scsi.OpGetConfiguration, 1, 0, 8), dataIn: 8}); binary.BigEndian.Uint16(b[6:]) != 0 {
		t.Fatalf("profile without medium % x", b)
	}
}

func TestUnknownAndMalformedCommands(t *testing.T) {
	iso, _ := writeISO(t, "a.iso", isoBlocks, 1)
	h := newHBA(t, iso)
	for _, op := range []byte{0x0A, 0x2A, 0x55, 0xBE, 0xFF, 0x08, 0xC0} {
		h.expectSense(cmd{cdb: []byte{op, 0, 0, 0, 0, 0, 0, 0, 0, 0}, dataIn: 512}, 5, 0x20, 0)
	}
	// An unknown command with data-out is still an unknown command.
	h.expectSense(cmd{cdb: []byte{0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0}, dataOut: 2048}, 5, 0x20, 0)
	h.expectSense(cmd{cdb: []byte{scsi.OpReportLUNs, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0}, dataIn: 64}, 5, 0x24, 0)
	if b := h.good(cmd{cdb: []byte{scsi.OpReportLUNs, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, dataIn: 256}); !bytes.Equal(b,
		[]byte{0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) {
		t.Fatalf("REPORT LUNS % x", b)
	}

	ram := h.m.RAM
	q := h.d.Queues[scsi.RequestQueue]
	copy(ram[h.req:], []byte{1, 0, 0x40, 0})
	// A request header shorter than lun+id+attributes+cdb.
	if used, err := q.Submit([]virtiotest.Buf{{Addr: h.req, Len: 20}, {Addr: h.resp, Len: respSize, Write: true}},
		wait); err != nil || ram[h.resp+11] != scsi.RespFailure || used != respSize {
		t.Fatalf("short request: %v response %d used %d", err, ram[h.resp+11], used)
	}
	// A response area with room for 8 bytes of sense: sense_len says 8.
	clear(ram[h.req+19 : h.req+reqSize])
	ram[h.req+19] = 0xFF
	if used, err := q.Submit([]virtiotest.Buf{{Addr: h.req, Len: reqSize}, {Addr: h.resp, Len: 20, Write: true}},
		wait); err != nil || used != 20 || ram[h.resp+10] != scsi.StatusCheckCondition ||
		binary.LittleEndian.Uint32(ram[h.resp:]) != 8 || ram[h.resp+12] != 0x70 {
		t.Fatalf("small response area: %v used %d % x", err, used, ram[h.resp:h.resp+20])
	}
	// No room for the response byte: the driver broke the rules.
	q.Add([]virtiotest.Buf{{Addr: h.req, Len: reqSize}, {Addr: h.resp, Len: 11, Write: true}})
	q.Kick()
	if !h.m.MSI.WaitCount(0, 1, wait) || h.d.Status()&virtio.StatusDeviceNeedsReset == 0 {
		t.Fatal("a command without room for a response did not set DEVICE_NEEDS_RESET")
	}
}

func TestTargetsAndLUNs(t *testing.T) {
	iso, _ := writeISO(t, "a.iso", isoBlocks, 1)
	h := newHBA(t, iso)
	for _, target := range []byte{1, 7, 255} {
		r := h.run(cmd{target: target, cdb: []byte{scsi.OpInquiry, 0, 0, 0, 36, 0}, dataIn: 36})
		if r.response != scsi.RespBadTarget || r.data[0] != 0 {
			t.Fatalf("target %d: response %d", target, r.response)
		}
	}
	b := h.good(cmd{lun: 1, cdb: []byte{scsi.OpInquiry, 0, 0, 0, 36, 0}, dataIn: 36})
	if b[0] != 0x7F {
		t.Fatalf("INQUIRY of LUN 1: peripheral %#x", b[0])
	}
	h.expectSense(cmd{lun: 1, cdb: tur}, 5, 0x25, 0)
	// lun[0] must be 1.
	h.m.RAM[h.req] = 0
	q := h.d.Queues[scsi.RequestQueue]
	if _, err := q.Submit([]virtiotest.Buf{{Addr: h.req, Len: reqSize}, {Addr: h.resp, Len: respSize, Write: true}},
		wait); err != nil || h.m.RAM[h.resp+11] != scsi.RespBadTarget {
		t.Fatalf("lun[0]=0: %v response %d", err, h.m.RAM[h.resp+11])
	}
}

func TestControlQueue(t *testing.T) {
	iso, _ := writeISO(t, "a.iso", isoBlocks, 1)
	h := newHBA(t, iso)
	q := h.d.Queues[scsi.ControlQueue]
	ram := h.m.RAM
	tmf := func(subtype uint32, target, lun byte) byte {
		t.Helper()
		clear(ram[h.req : h.req+24])
		binary.LittleEndian.PutUint32(ram[h.req+4:], subtype)
		ram[h.req+8], ram[h.req+9], ram[h.req+10], ram[h.req+11] = 1, target, 0x40, lun
		ram[h.resp] = 0xEE
		used, err := q.Submit([]virtiotest.Buf{{Addr: h.req, Len: 24}, {Addr: h.resp, Len: 1, Write: true}}, wait)
		if err != nil || used != 1 {
			t.Fatalf("TMF %d: %v used %d", subtype, err, used)
		}
		return ram[h.resp]
	}
	h.good(cmd{cdb: []byte{scsi.OpPreventAllow, 0, 0, 0, 1, 0}})
	for _, st := range []uint32{scsi.TMFAbortTask, scsi.TMFAbortTaskSet, scsi.TMFLogicalUnitRst, scsi.TMFITNexusReset} {
		if r := tmf(st, 0, 0); r != scsi.RespFunctionComplete {
			t.Fatalf("TMF %d: response %d", st, r)
		}
	}
	// The reset released the removal lock.
	h.good(cmd{cdb: []byte{scsi.OpStartStopUnit, 0, 0, 0, 2, 0}})
	if r := tmf(scsi.TMFLogicalUnitRst, 3, 0); r != scsi.RespBadTarget {
		t.Fatalf("TMF to target 3: response %d", r)
	}
	if r := tmf(scsi.TMFLogicalUnitRst, 0, 2); r != scsi.RespIncorrectLUN {
		t.Fatalf("TMF to LUN 2: response %d", r)
	}
	if r := tmf(99, 0, 0); r != scsi.RespFunctionReject {
		t.Fatalf("unknown TMF: response %d", r)
	}
	// Asynchronous notification: none supported.
	clear(ram[h.req : h.req+16])
	binary.LittleEndian.PutUint32(ram[h.req:], scsi.CtrlANQuery)
	ram[h.req+4], ram[h.req+6] = 1, 0x40
	binary.LittleEndian.PutUint32(ram[h.req+12:], 0xFF)
	for i := range 5 {
		ram[h.resp+uint64(i)] = 0xEE
	}
	used, err := q.Submit([]virtiotest.Buf{{Addr: h.req, Len: 16}, {Addr: h.resp, Len: 5, Write: true}}, wait)
	if err != nil || used != 5 || binary.LittleEndian.Uint32(ram[h.resp:]) != 0 || ram[h.resp+4] != scsi.RespOK {
		t.Fatalf("AN query: %v used %d % x", err, used, ram[h.resp:h.resp+5])
	}
}

func TestDriverChosenLayout(t *testing.T) {
	iso, content := writeISO(t, "a.iso", isoBlocks, 1)
	h := newHBA(t, iso)
	// Linux writes cdb_size and sense_size; the request layout follows them.
	dev := h.d.Caps[virtiotest.CapDevice]
	base := h.d.BARs[dev.BAR] + uint64(dev.Offset)
	h.m.MMIOWrite(base+20, 4, 32) // sense_size
	h.m.MMIOWrite(base+24, 4, 16) // cdb_size
	if h.d.DeviceConfigRead(20, 4) != 32 || h.d.DeviceConfigRead(24, 4) != 16 {
		t.Fatal("sense_size/cdb_size did not take the driver's values")
	}
	h.m.MMIOWrite(base+24, 4, 100000) // out of bounds: ignored
	if h.d.DeviceConfigRead(24, 4) != 16 {
		t.Fatal("an absurd cdb_size was taken")
	}
	ram := h.m.RAM
	copy(ram[h.req:], []byte{1, 0, 0x40, 0, 0, 0, 0, 0})
	copy(ram[h.req+19:], read10(5, 1))
	q := h.d.Queues[scsi.RequestQueue]
	used, err := q.Submit([]virtiotest.Buf{{Addr: h.req, Len: 19 + 16}, {Addr: h.resp, Len: 12 + 32, Write: true},
		{Addr: h.data, Len: 2048, Write: true}}, wait)
	if err != nil || ram[h.resp+11] != 0 || ram[h.resp+10] != 0 || used != 44+2048 {
		t.Fatalf("READ with a 16-byte CDB layout: %v used %d response %d status %d", err, used, ram[h.resp+11], ram[h.resp+10])
	}
	if !bytes.Equal(ram[h.data:h.data+2048], content[5*2048:6*2048]) {
		t.Fatal("READ with a 16-byte CDB layout returned other data")
	}
	// After a device reset the defaults are back.
	if err := h.d.Reset(); err != nil {
		t.Fatal(err)
	}
	if h.d.DeviceConfigRead(20, 4) != 96 || h.d.DeviceConfigRead(24, 4) != 32 {
		t.Fatal("reset kept the driver's layout")
	}
}

func TestMediumFiles(t *testing.T) {
	iso, _ := writeISO(t, "a.iso", 4, 1)
	// A writer holding an exclusive lock keeps the image out.
	f, err := os.OpenFile(iso, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := scsi.New(scsi.Options{ISO: iso}); err == nil {
		t.Fatal("an image locked for writing was opened")
	}
	f.Close()
	dev, err := scsi.New(scsi.Options{ISO: iso})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	// Two drives may share one image.
	other, err := scsi.New(scsi.Options{ISO: iso})
	if err != nil {
		t.Fatalf("second read-only user: %v", err)
	}
	other.Close()

	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(dir, "small.iso")
	os.WriteFile(small, make([]byte, 2047), 0o600)
	for _, p := range []string{fifo, dir, small, filepath.Join(dir, "missing.iso"), "/dev/null"} {
		if err := dev.Insert(p); err == nil {
			t.Errorf("Insert(%s) succeeded", p)
		}
	}
	if !dev.MediumPresent() {
		t.Fatal("a failed Insert removed the medium")
	}
	if _, err := scsi.New(scsi.Options{Serial: "bad\x00serial"}); err == nil {
		t.Fatal("a serial with a NUL was accepted")
	}
}

func BenchmarkRead64K(b *testing.B) {
	iso, _ := writeISO(b, "a.iso", isoBlocks, 1)
	h := newHBA(b, iso)
	b.SetBytes(64 << 10)
	for i := 0; b.Loop(); i++ {
		lba := uint32(i*32) % (isoBlocks - 32)
		if r := h.run(cmd{cdb: read10(lba, 32), dataIn: 64 << 10}); r.status != 0 {
			b.Fatal("read failed")
		}
	}
}
