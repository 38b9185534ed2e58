package ninep_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"paddock/engine/virtio/ninep/nineptest"
	"paddock/sharing/p9"
)

// FuzzRequest sends arbitrary bytes as one request chain, with an arbitrary amount of room for the answer,
// through the device to a real share server (in this process, on a read-only share). Every request must be
// answered, never hang or panic, never overrun its room, and every answer with room for one must be a whole,
// well-formed 9P message; the share must keep serving.
func FuzzRequest(f *testing.F) {
	root := f.TempDir()
	os.WriteFile(filepath.Join(root, "file"), []byte("contents"), 0o644)
	os.Mkdir(filepath.Join(root, "dir"), 0o755)
	os.Symlink("../../etc/passwd", filepath.Join(root, "dir", "link"))
	conn, _ := share(f, root, true)
	c := attach(f, "fuzz", conn)
	if err := c.Mount(0); err != nil {
		f.Fatal(err)
	}
	f.Add(p9.Marshal(1, &p9.Twalk{Fid: 0, NewFid: 1, Names: []string{"dir", "link"}}), uint16(4096))
	f.Add(p9.Marshal(2, &p9.Tread{Fid: 1, Count: 0xFFFFFFFF}), uint16(64))
	f.Add(p9.Marshal(3, &p9.Tversion{Msize: 1, Version: p9.Version}), uint16(11))
	f.Add(p9.Marshal(4, &p9.Tlcreate{Fid: 0, Name: "x", Flags: 0x42, Mode: 0o4777}), uint16(100))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 100, 0, 0}, uint16(8))
	f.Fuzz(func(t *testing.T, raw []byte, room uint16) {
		if len(raw) > nineptest.Msize {
			raw = raw[:nineptest.Msize]
		}
		ans, err := c.Exchange(raw, uint32(room))
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		if room >= 11 {
			if len(ans) < p9.HeaderSize || binary.LittleEndian.Uint32(ans) != uint32(len(ans)) {
				t.Fatalf("answer % x is not a whole message", ans)
			}
			if _, _, err := p9.Unmarshal(ans); err != nil {
				t.Fatalf("answer % x: %v", ans, err)
			}
		}
		if err := conn.Err(); err != nil {
			t.Fatalf("share connection down: %v", err)
		}
	})
}
