package scsi

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"paddock/engine/virtio"
)

const fuzzBlocks = 64

// FuzzCommand feeds arbitrary requests (LUN, CDB, layout, data-out, data-in buffers) and host media changes
// through the request handler. Nothing may panic, and every response must be well formed: a known response
// code; sense only with CHECK CONDITION, in fixed format; resid plus what was written equals the data-in
// buffer; nothing written past what resid admits; READ data equal to the image.
func FuzzCommand(f *testing.F) {
	seed := func(cdb ...byte) []byte {
		b := make([]byte, 8, 8+len(cdb))
		b[0], b[1] = 0, 0
		return append(b, cdb...)
	}
	f.Add(seed(OpInquiry, 0, 0, 0, 36, 0), uint16(36), byte(0), byte(0))
	f.Add(seed(OpInquiry, 1, 0x83, 0, 255, 0), uint16(255), byte(0), byte(1))
	f.Add(seed(OpRead10, 0, 0, 0, 0, 3, 0, 0, 4, 0), uint16(9000), byte(0), byte(2))
	f.Add(seed(OpRead12, 0, 0, 0, 0, 60, 0, 0, 0, 4, 0, 0), uint16(8192), byte(3), byte(0))
	f.Add(seed(OpRead16, 0, 0, 0, 0, 0, 0, 0, 0, 63, 0, 0, 0, 1, 0, 0), uint16(2048), byte(0), byte(0))
	f.Add(seed(OpModeSense10, 0, 0x3F, 0, 0, 0, 0, 0, 255, 0), uint16(255), byte(0), byte(4))
	f.Add(seed(OpModeSense6, 8, 0x2A, 0, 255, 0), uint16(100), byte(0), byte(0))
	f.Add(seed(OpReadTOC, 2, 0, 0, 0, 0, 0, 0, 100, 0), uint16(100), byte(0), byte(0))
	f.Add(seed(OpGetConfiguration, 2, 0, 3, 0, 0, 0, 1, 0, 0), uint16(300), byte(0), byte(0))
	f.Add(seed(OpGetEventStatus, 1, 0, 0, 0x10, 0, 0, 0, 8, 0), uint16(8), byte(5), byte(0))
	f.Add(seed(OpStartStopUnit, 0, 0, 0, 2, 0), uint16(0), byte(6), byte(0))
	f.Add(seed(OpReportLUNs, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0), uint16(16), byte(0), byte(0))
	f.Add(seed(0xFF), uint16(5), byte(7), byte(9))

	dir := f.TempDir()
	iso := filepath.Join(dir, "a.iso")
	content := make([]byte, fuzzBlocks*BlockSize)
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := range content {
		content[i] = byte(rnd.Uint32())
	}
	if err := os.WriteFile(iso, content, 0o600); err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, req []byte, dataIn uint16, action, layout byte) {
		d, err := New(Options{ISO: iso})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		// Host and earlier-guest actions that put the unit into other states first.
		switch action % 8 {
		case 1:
			d.Eject()
		case 2:
			d.Insert(iso)
		case 3:
			d.unit.locked = true
		case 4:
			d.unit.trayOpen = true
		case 5:
			d.unit.event = eventMediaRemoval
		}
		var v [4]byte
		binary.LittleEndian.PutUint32(v[:], uint32(layout%4)*16)
		d.WriteConfig(cfgCDBSize, v[:]) // 0 is refused; 16, 32, 48 taken
		binary.LittleEndian.PutUint32(v[:], uint32(layout>>2%4)*40)
		d.WriteConfig(cfgSenseSize, v[:])
		senseSize, cdbSize := d.senseSize.Load(), d.cdbSize.Load()

		// The request: lun[0] = 1 unless the input says otherwise, then the input as lun[1..], id, ... cdb.
		full := make([]byte, cmdHeaderSize+int(cdbSize))
		full[0] = 1
		if len(req) > 0 && req[0]&0x80 != 0 {
			full[0] = req[0] & 0x7F
		}
		if len(req) > 8 {
			copy(full[1:4], req[1:4])
			copy(full[cmdHeaderSize:], req[8:])
		}
		var c virtio.Chain
		readable := full
		if layout&0x10 != 0 && len(readable) > 3 { // a request cut short, or one with data-out behind it
			readable = readable[:len(readable)-3]
		} else if layout&0x20 != 0 {
			readable = append(readable, make([]byte, 512)...)
		}
		c.Readable = [][]byte{readable[:len(readable)/2], readable[len(readable)/2:]}
		c.ReadableLen = uint64(len(readable))

		respSize := respHeaderSize + int(senseSize)
		writable := make([]byte, respSize+int(dataIn))
		for i := range writable {
			writable[i] = 0xA5
		}
		if layout&0x40 != 0 && len(writable) > respSize+1 { // split where the response ends and data starts
			c.Writable = [][]byte{writable[:7], writable[7 : respSize+1], writable[respSize+1:]}
		} else {
			c.Writable = [][]byte{writable}
		}
		c.WritableLen = uint64(len(writable))

		used, err := d.command(&c)
		if err != nil {
			t.Fatal(err)
		}
		senseLen := binary.LittleEndian.Uint32(writable[0:])
		resid := binary.LittleEndian.Uint32(writable[4:])
		status, response := writable[10], writable[11]
		switch response {
		case RespOK, RespOverrun, RespBadTarget, RespFailure:
		default:
			t.Fatalf("response %d", response)
		}
		if response != RespOK && (status != 0 || senseLen != 0 || resid != uint32(dataIn)) {
			t.Fatalf("response %d with status %d sense_len %d resid %d", response, status, senseLen, resid)
		}
		if resid > uint32(dataIn) {
			t.Fatalf("resid %d for %d bytes of data-in", resid, dataIn)
		}
		transferred := int(dataIn) - int(resid)
		if used != uint32(respSize+transferred) {
			t.Fatalf("used %d, response area %d and %d bytes of data", used, respSize, transferred)
		}
		data := writable[respSize:]
		if !bytes.Equal(data[transferred:], bytes.Repeat([]byte{0xA5}, len(data)-transferred)) {
			t.Fatal("data written past what resid admits")
		}
		switch status {
		case StatusGood:
			if senseLen != 0 {
				t.Fatalf("sense_len %d with GOOD", senseLen)
			}
		case StatusCheckCondition:
			if senseLen != min(fixedSenseLen, senseSize) || transferred != 0 {
				t.Fatalf("CHECK CONDITION with sense_len %d and %d bytes transferred", senseLen, transferred)
			}
			sense := writable[respHeaderSize:]
			if senseLen >= 14 && (sense[0] != 0x70 || sense[7] != 10 || sense[2] > KeyUnitAttention) {
				t.Fatalf("sense % x", sense[:senseLen])
			}
		default:
			t.Fatalf("status %#x", status)
		}
		if !bytes.Equal(writable[respHeaderSize+senseLen:respSize], make([]byte, respSize-respHeaderSize-int(senseLen))) {
			t.Fatal("sense area past sense_len is not zeroed")
		}
		op := full[cmdHeaderSize]
		if status == StatusGood && response == RespOK && (op == OpRead10 || op == OpRead12 || op == OpRead16) &&
			full[1] == 0 && transferred > 0 {
			lba, _ := readRange(full[cmdHeaderSize:])
			if !bytes.Equal(data[:transferred], content[lba*BlockSize:lba*BlockSize+uint64(transferred)]) {
				t.Fatal("READ data differs from the image")
			}
		}
	})
}
