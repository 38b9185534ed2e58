package ninep_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"paddock/engine/virtio/ninep/nineptest"
	"paddock/sharing/p9"
)

// The host-side cost of the share path: the device model, the connection and a share server (in this process),
// driven as the guest's 9p client drives them, Msize at a time.

const chunk = nineptest.Msize - p9.IOHeader

func benchShare(b *testing.B, readOnly bool) (*nineptest.Client, string) {
	root := b.TempDir()
	conn, _ := share(b, root, readOnly)
	c := attach(b, "bench", conn)
	if err := c.Mount(0); err != nil {
		b.Fatal(err)
	}
	return c, root
}

func BenchmarkRead(b *testing.B) {
	c, root := benchShare(b, true)
	const size = 16 << 20
	if err := os.WriteFile(filepath.Join(root, "f"), make([]byte, size), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := c.Walk(0, 1, "f"); err != nil {
		b.Fatal(err)
	}
	if e := nineptest.Errno(c.RPC(&p9.Tlopen{Fid: 1, Flags: unix.O_RDONLY})); e != 0 {
		b.Fatal(e)
	}
	b.SetBytes(chunk)
	for i := 0; b.Loop(); i++ {
		off := uint64(i*chunk) % (size - chunk)
		if e := nineptest.Errno(c.RPC(&p9.Tread{Fid: 1, Offset: off, Count: chunk})); e != 0 {
			b.Fatal(e)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	c, _ := benchShare(b, false)
	if err := c.Walk(0, 1); err != nil {
		b.Fatal(err)
	}
	if e := nineptest.Errno(c.RPC(&p9.Tlcreate{Fid: 1, Name: "f", Flags: unix.O_RDWR, Mode: 0o644})); e != 0 {
		b.Fatal(e)
	}
	data := make([]byte, chunk)
	b.SetBytes(chunk)
	for i := 0; b.Loop(); i++ {
		off := uint64(i%256) * chunk
		if e := nineptest.Errno(c.RPC(&p9.Twrite{Fid: 1, Offset: off, Data: data})); e != 0 {
			b.Fatal(e)
		}
	}
}

// BenchmarkCreateSmallFile is one small file made, written and closed: walk, create, write, clunk.
func BenchmarkCreateSmallFile(b *testing.B) {
	c, _ := benchShare(b, false)
	data := make([]byte, 100)
	for i := 0; b.Loop(); i++ {
		if err := c.Walk(0, 1); err != nil {
			b.Fatal(err)
		}
		if e := nineptest.Errno(c.RPC(&p9.Tlcreate{Fid: 1, Name: fmt.Sprint("f", i), Flags: unix.O_WRONLY, Mode: 0o644})); e != 0 {
			b.Fatal(e)
		}
		if e := nineptest.Errno(c.RPC(&p9.Twrite{Fid: 1, Data: data})); e != 0 {
			b.Fatal(e)
		}
		if e := nineptest.Errno(c.RPC(&p9.Tclunk{Fid: 1})); e != 0 {
			b.Fatal(e)
		}
	}
}
