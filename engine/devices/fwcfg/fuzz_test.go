package fwcfg

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzDMA feeds random descriptors and selectors through the DMA path. Whatever the guest asks, the device must not
// panic, must finish (control word 0 or the error bit alone), and may only change guest memory in the descriptor's
// control word and, for a read, the destination it names.
func FuzzDMA(f *testing.F) {
	seed := func(control, length uint32, address uint64, sel uint16, descAt uint32) []byte {
		b := binary.BigEndian.AppendUint32(nil, control)
		b = binary.BigEndian.AppendUint32(b, length)
		b = binary.BigEndian.AppendUint64(b, address)
		b = binary.BigEndian.AppendUint16(b, sel)
		return binary.BigEndian.AppendUint32(b, descAt)
	}
	f.Add(seed(KeyFileDir<<16|dmaSelect|dmaRead, 68, bufAddr, 0, descAddr))
	f.Add(seed(0x20<<16|dmaSelect|dmaWrite, 28, bufAddr, 0, descAddr))
	f.Add(seed(dmaSkip|dmaRead, 4, testRAMSize-2, 0x20, descAddr))
	f.Add(seed(0xffffffff, 0xffffffff, ^uint64(0), 0xffff, testRAMSize-4))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 22 {
			return
		}
		dr := newDriver(t)
		if err := dr.dev.AddFile("etc/data", bytes.Repeat([]byte{0x5a}, 300)); err != nil {
			t.Fatal(err)
		}
		if err := dr.dev.AddWritableFile(FileRAMFB, RAMFBConfigSize, func([]byte) {}); err != nil {
			t.Fatal(err)
		}
		control := binary.BigEndian.Uint32(in[0:])
		length := binary.BigEndian.Uint32(in[4:])
		address := binary.BigEndian.Uint64(in[8:])
		dr.selectKey(binary.BigEndian.Uint16(in[16:]))
		desc := uint64(binary.BigEndian.Uint32(in[18:])) % (testRAMSize + 64)
		inRAM := desc+dmaDescriptorSize <= testRAMSize
		if inRAM {
			copy(dr.ram[desc:], in[:dmaDescriptorSize])
		}
		before := bytes.Clone(dr.ram)
		dr.startDMA(desc)
		if !inRAM {
			if !bytes.Equal(before, dr.ram) {
				t.Fatal("a descriptor outside RAM changed guest memory")
			}
			return
		}
		if c := binary.BigEndian.Uint32(dr.ram[desc:]); c != 0 && c != dmaError {
			t.Fatalf("control word after DMA = %#x", c)
		}
		for i := range dr.ram {
			if dr.ram[i] == before[i] {
				continue
			}
			a := uint64(i)
			inControl := a >= desc && a < desc+4
			inDest := control&dmaRead != 0 && a >= address && a-address < uint64(length)
			if !inControl && !inDest {
				t.Fatalf("DMA changed guest byte %#x outside its destination", a)
			}
		}
		// The device still answers.
		if got := dr.dmaRead(KeySignature, 4); string(got) != "QEMU" {
			t.Fatalf("signature after fuzz input = %q", got)
		}
	})
}
