package virtio_test

import (
	"encoding/binary"
	"testing"

	"paddock/engine/virtio"
	"paddock/engine/virtio/rng"
	"paddock/engine/virtio/virtiotest"
)

// FuzzTransportRegisters programs the transport with arbitrary register writes (common configuration, notify,
// MSI-X table, PCI configuration) over RAM full of arbitrary bytes. Nothing may panic or hang, and Close must
// always return.
func FuzzTransportRegisters(f *testing.F) {
	op := func(kind byte, off uint16, size byte, v uint64) []byte {
		b := make([]byte, 12)
		b[0], b[3] = kind, size
		binary.LittleEndian.PutUint16(b[1:], off)
		binary.LittleEndian.PutUint64(b[4:], v)
		return b
	}
	var bringUp []byte
	for _, o := range [][]byte{
		op(0, virtio.CommonDeviceStatus, 1, 3),
		op(0, virtio.CommonDriverFeatureSelect, 4, 1),
		op(0, virtio.CommonDriverFeature, 4, 1),
		op(0, virtio.CommonDeviceStatus, 1, 11),
		op(0, virtio.CommonQueueDesc, 8, 0x1000),
		op(0, virtio.CommonQueueDriver, 8, 0x2000),
		op(0, virtio.CommonQueueDevice, 8, 0x3000),
		op(0, virtio.CommonQueueEnable, 2, 1),
		op(0, virtio.CommonDeviceStatus, 1, 15),
		op(1, 0, 2, 0),
	} {
		bringUp = append(bringUp, o...)
	}
	f.Add(bringUp, []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(op(2, 0x80, 2, 0xc000), []byte{})
	f.Add(op(3, 12, 4, 0), []byte{0xff})
	f.Fuzz(registerOps)
}

func registerOps(t *testing.T, ops []byte, ram []byte) {
	{
		m, err := virtiotest.NewMachine(64 << 10)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; len(ram) > 0 && i < len(m.RAM); i += len(ram) {
			copy(m.RAM[i:], ram)
		}
		fn, d, err := m.Attach(rng.New())
		if err != nil {
			t.Fatal(err)
		}
		defer fn.Close()
		d.EnableMSIX()
		bar := d.BARs[4]
		for n := 0; len(ops) >= 12 && n < 256; n++ {
			kind, off, size := ops[0]%4, uint64(binary.LittleEndian.Uint16(ops[1:])), []int{1, 2, 4, 8}[ops[3]%4]
			v := binary.LittleEndian.Uint64(ops[4:])
			ops = ops[12:]
			switch kind {
			case 0: // common configuration
				m.MMIOWrite(bar+off%0x40, size, v)
			case 1: // notify
				m.MMIOWrite(bar+0x3000+off%0x10, size, v)
			case 2: // anywhere in the BAR, reads too
				m.MMIOWrite(bar+off%0x8000, size, v)
				m.MMIORead(bar+(off*7)%0x8000, size)
			case 3: // PCI configuration space, past the header
				m.ConfigWrite(d.Slot, uint32(0x40+off%0xc0), min(size, 4), uint32(v))
				m.ConfigRead(d.Slot, uint32(off%0x100), min(size, 4))
			}
		}
	}
}
