package input_test

import (
	"bytes"
	"testing"

	"paddock/engine/virtio"
	"paddock/engine/virtio/input"
)

// FuzzConfigSelect drives the configuration space with arbitrary writes and reads of any offset and width. After
// every step the structure must be self-consistent: select and subsel read back as last written, size is at most
// 128, the reserved bytes and everything past size are zero, and a whole read matches byte-by-byte reads.
func FuzzConfigSelect(f *testing.F) {
	f.Add([]byte{0, 0, 1, input.CfgIDName, 1, 1, 0, 1, 8, 0})
	f.Add([]byte{0, 0, 2, input.CfgEvBits, input.EvKey, 1, 40, 4})
	f.Add([]byte{0, 1, 1, input.AbsY, 0, 0, 1, input.CfgAbsInfo, 1, 9, 8})
	f.Add([]byte{0, 0, 8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 1, 200, 8})
	f.Fuzz(func(t *testing.T, ops []byte) {
		for _, dev := range []virtio.Device{input.NewTablet(), input.NewKeyboard()} {
			configOps(t, dev, ops)
		}
	})
}

// configOps runs ops: {0, offset, n, n bytes} writes, {1, offset, n} reads.
func configOps(t *testing.T, dev virtio.Device, ops []byte) {
	var sel, subsel byte
	for steps := 0; len(ops) >= 3 && steps < 64; steps++ {
		kind, off, n := ops[0], uint32(ops[1]), int(ops[2]%9)
		ops = ops[3:]
		switch kind % 2 {
		case 0:
			n = min(n, len(ops))
			data := ops[:n]
			ops = ops[n:]
			if off+uint32(n) > input.ConfigSize {
				continue // the transport never passes such an access
			}
			dev.WriteConfig(off, data)
			for i, b := range data {
				switch off + uint32(i) {
				case 0:
					sel = b
				case 1:
					subsel = b
				}
			}
		case 1:
			b := make([]byte, n)
			dev.ReadConfig(off, b) // any offset, even past the end: no panic
		}
		var whole [input.ConfigSize]byte
		dev.ReadConfig(0, whole[:])
		if whole[0] != sel || whole[1] != subsel {
			t.Fatalf("select/subsel %#x/%#x, wrote %#x/%#x", whole[0], whole[1], sel, subsel)
		}
		size := int(whole[2])
		if size > 128 {
			t.Fatalf("size %d", size)
		}
		if !bytes.Equal(whole[3:8], make([]byte, 5)) || !bytes.Equal(whole[8+size:], make([]byte, 128-size)) {
			t.Fatalf("select %#x/%#x size %d: non-zero bytes outside the payload: %v", sel, subsel, size, whole)
		}
		if len(ops) < 3 { // once, at the end: cheap enough to keep the fuzzer fast
			for i := range whole {
				var one [1]byte
				dev.ReadConfig(uint32(i), one[:])
				if one[0] != whole[i] {
					t.Fatalf("byte %d reads %#x alone, %#x in a whole read", i, one[0], whole[i])
				}
			}
		}
	}
}
