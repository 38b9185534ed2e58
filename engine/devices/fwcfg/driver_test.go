package fwcfg

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"testing"

	"paddock/engine/guestmem"
)

// The test driver talks to the device as SeaBIOS does: port writes and reads, and DMA descriptors in guest RAM.

const (
	testRAMSize = 1 << 20
	descAddr    = 0x1000 // where the driver keeps its DMA descriptor
	bufAddr     = 0x2000 // where DMA data lands
)

type driver struct {
	t   *testing.T
	mem *guestmem.Memory
	ram []byte
	dev *Device
}

func newDriver(t testing.TB) *driver {
	ram := make([]byte, testRAMSize)
	mem, err := guestmem.New(guestmem.Region{GPA: 0, Host: ram})
	if err != nil {
		t.Fatal(err)
	}
	tt, _ := t.(*testing.T)
	return &driver{t: tt, mem: mem, ram: ram, dev: New(mem, slog.New(slog.NewTextHandler(io.Discard, nil)))}
}

func (dr *driver) selectKey(key uint16) {
	dr.dev.Write(offSelector, binary.LittleEndian.AppendUint16(nil, key))
}

// readPort reads n bytes from the data port, one inb at a time.
func (dr *driver) readPort(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		b := []byte{0xee}
		dr.dev.Read(PortData-PortBase, b)
		out[i] = b[0]
	}
	return out
}

// startDMA writes the descriptor address as SeaBIOS and Linux do: high half, then low half (which starts it).
func (dr *driver) startDMA(desc uint64) {
	dr.dev.Write(PortDMAHigh-PortBase, binary.BigEndian.AppendUint32(nil, uint32(desc>>32)))
	dr.dev.Write(PortDMALow-PortBase, binary.BigEndian.AppendUint32(nil, uint32(desc)))
}

// dma builds a descriptor at descAddr, runs it and returns the control word the device wrote back.
func (dr *driver) dma(control, length uint32, address uint64) uint32 {
	d := dr.ram[descAddr : descAddr+dmaDescriptorSize]
	binary.BigEndian.PutUint32(d[0:], control)
	binary.BigEndian.PutUint32(d[4:], length)
	binary.BigEndian.PutUint64(d[8:], address)
	dr.startDMA(descAddr)
	return binary.BigEndian.Uint32(d[0:])
}

// dmaRead selects key and reads n bytes of it into bufAddr, failing the test on an error.
func (dr *driver) dmaRead(key uint16, n int) []byte {
	if c := dr.dma(uint32(key)<<16|dmaSelect|dmaRead, uint32(n), bufAddr); c != 0 {
		dr.t.Fatalf("DMA read of key %#x: control %#x, want 0", key, c)
	}
	return append([]byte(nil), dr.ram[bufAddr:bufAddr+n]...)
}

type dirEntry struct {
	name string
	key  uint16
	size uint32
}

// directory reads the file directory through the data port, as SeaBIOS's qemu_cfg_init does without DMA.
func (dr *driver) directory() []dirEntry {
	dr.selectKey(KeyFileDir)
	count := binary.BigEndian.Uint32(dr.readPort(4))
	var out []dirEntry
	for i := uint32(0); i < count; i++ {
		e := dr.readPort(fileEntrySize)
		name := e[8:]
		if j := bytes.IndexByte(name, 0); j >= 0 {
			name = name[:j]
		}
		out = append(out, dirEntry{string(name), binary.BigEndian.Uint16(e[4:]), binary.BigEndian.Uint32(e[0:])})
	}
	return out
}

// file finds name in the directory and reads it whole by DMA.
func (dr *driver) file(name string) ([]byte, uint16, bool) {
	for _, e := range dr.directory() {
		if e.name == name {
			return dr.dmaRead(e.key, int(e.size)), e.key, true
		}
	}
	return nil, 0, false
}
