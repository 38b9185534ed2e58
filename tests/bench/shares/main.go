// Command shares measures the host-side cost of a folder share: the virtio-9p device model driven as Linux's
// 9pnet_virtio drives it (one request at a time, msize 128 KiB), over a socket to a real, jailed share-server
// process. It writes and reads a 1 GiB file and creates 10,000 small files, and prints the time per operation and
// the throughput. The comparison with QEMU's virtio-9p needs a Linux guest, so hardware virtualization: elsewhere
// it says so.
//
// Usage: go run ./tests/bench/shares [-size MIB] [-files N]
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"paddock/engine/virtio/ninep"
	"paddock/engine/virtio/ninep/nineptest"
	"paddock/sharing/p9"
	"paddock/sharing/shareserver"
	"paddock/tests/testenv"
)

func main() {
	sizeMiB := flag.Int("size", 1024, "size of the big file in MiB")
	files := flag.Int("files", 10000, "small files to create")
	base := flag.String("dir", "", "where the shared folder goes (default: the temp dir; /dev/shm leaves the disk out)")
	flag.Parse()
	if err := run(*base, int64(*sizeMiB)<<20, *files); err != nil {
		fmt.Fprintln(os.Stderr, "shares:", err)
		os.Exit(1)
	}
	if why := testenv.WhyNoStockKernel(); why != "" {
		fmt.Printf("against QEMU's virtio-9p from a Linux guest: not here (%s)\n", why)
	}
}

func run(base string, size int64, files int) error {
	dir, err := os.MkdirTemp(base, "paddock-shares-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	program, err := testenv.BuildLeanVMM(dir)
	if err != nil {
		return err
	}
	root := dir + "/share"
	if err := os.Mkdir(root, 0o755); err != nil {
		return err
	}
	vmmEnd, proc, err := shareserver.Spawn(program, shareserver.Share{HostDir: root, Tag: "bench"}, os.Stderr)
	if err != nil {
		return err
	}
	defer proc.Kill()
	conn := ninep.NewConn(vmmEnd, nil)
	vmmEnd.Close()
	defer conn.Close()
	dev, err := ninep.New("bench", conn, nil)
	if err != nil {
		return err
	}
	c, err := nineptest.Attach(dev)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mount(0); err != nil {
		return err
	}
	chunk := int64(nineptest.Msize - p9.IOHeader)
	rpc := func(m p9.Msg) error {
		if e := nineptest.Errno(c.RPC(m)); e != 0 {
			return fmt.Errorf("%T: %w", m, e)
		}
		return nil
	}
	report := func(what string, ops int, bytes int64, d time.Duration) {
		line := fmt.Sprintf("%-28s %8d ops  %10.1f us/op", what, ops, float64(d.Microseconds())/float64(ops))
		if bytes > 0 {
			line += fmt.Sprintf("  %8.0f MB/s", float64(bytes)/d.Seconds()/1e6)
		}
		fmt.Println(line)
	}

	// Write the big file, then read it back, a chunk per request.
	if err := c.Walk(0, 1); err != nil {
		return err
	}
	if err := rpc(&p9.Tlcreate{Fid: 1, Name: "big", Flags: unix.O_RDWR, Mode: 0o644}); err != nil {
		return err
	}
	data := make([]byte, chunk)
	began := time.Now()
	ops := 0
	for off := int64(0); off < size; off += chunk {
		n := min(chunk, size-off)
		if err := rpc(&p9.Twrite{Fid: 1, Offset: uint64(off), Data: data[:n]}); err != nil {
			return err
		}
		ops++
	}
	report(fmt.Sprintf("write %d MiB", size>>20), ops, size, time.Since(began))
	if err := rpc(&p9.Tclunk{Fid: 1}); err != nil {
		return err
	}
	if err := c.Walk(0, 1, "big"); err != nil {
		return err
	}
	if err := rpc(&p9.Tlopen{Fid: 1, Flags: unix.O_RDONLY}); err != nil {
		return err
	}
	began, ops = time.Now(), 0
	for off := int64(0); off < size; off += chunk {
		if err := rpc(&p9.Tread{Fid: 1, Offset: uint64(off), Count: uint32(min(chunk, size-off))}); err != nil {
			return err
		}
		ops++
	}
	report(fmt.Sprintf("read %d MiB", size>>20), ops, size, time.Since(began))
	if err := rpc(&p9.Tclunk{Fid: 1}); err != nil {
		return err
	}

	// Small files: walk to the folder, create, write 100 bytes, close: what `cp` of a small file costs.
	small := make([]byte, 100)
	began = time.Now()
	for i := range files {
		if err := c.Walk(0, 1); err != nil {
			return err
		}
		if err := rpc(&p9.Tlcreate{Fid: 1, Name: fmt.Sprint("f", i), Flags: unix.O_WRONLY, Mode: 0o644}); err != nil {
			return err
		}
		if err := rpc(&p9.Twrite{Fid: 1, Data: small}); err != nil {
			return err
		}
		if err := rpc(&p9.Tclunk{Fid: 1}); err != nil {
			return err
		}
	}
	report(fmt.Sprintf("create %d small files", files), files, 0, time.Since(began))
	return nil
}
