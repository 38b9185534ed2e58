package main

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

type cpioEntry struct {
	mode, rdevMajor, rdevMinor uint64
	data                       string
}

// readNewc parses a gzip-compressed newc archive the way the kernel's initramfs unpacker does.
func readNewc(t *testing.T, path string) map[string]cpioEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	tmp := make([]byte, 1<<16)
	for {
		n, err := zr.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if err != nil {
			break
		}
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	entries := map[string]cpioEntry{}
	for off := 0; ; {
		if off+110 > len(buf) || string(buf[off:off+6]) != "070701" {
			t.Fatalf("bad header at %d", off)
		}
		field := func(i int) uint64 {
			v, err := strconv.ParseUint(string(buf[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		mode, size, nameSize := field(1), int(field(6)), int(field(11))
		name := string(buf[off+110 : off+110+nameSize-1])
		dataOff := align(off + 110 + nameSize)
		e := cpioEntry{mode: mode, rdevMajor: field(9), rdevMinor: field(10), data: string(buf[dataOff : dataOff+size])}
		off = align(dataOff + size)
		if name == "TRAILER!!!" {
			if off != len(buf) {
				t.Fatalf("%d bytes after the trailer", len(buf)-off)
			}
			return entries
		}
		entries[name] = e
	}
}

func TestPack(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "init"), []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "odd"), []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(root, "bin", "sh")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "initramfs.cpio.gz")
	if err := pack(out, root); err != nil {
		t.Fatal(err)
	}
	got := readNewc(t, out)
	want := map[string]cpioEntry{
		"bin":         {mode: syscall.S_IFDIR | 0o755},
		"bin/odd":     {mode: syscall.S_IFREG | 0o644, data: "12345"},
		"bin/sh":      {mode: syscall.S_IFLNK | 0o777, data: "busybox"},
		"init":        {mode: syscall.S_IFREG | 0o755, data: "#!/bin/sh\necho hi\n"},
		"dev":         {mode: syscall.S_IFDIR | 0o755},
		"dev/console": {mode: syscall.S_IFCHR | 0o600, rdevMajor: 5, rdevMinor: 1},
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s: got %+v (present %v), want %+v", name, g, ok, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("archive has %d entries, want %d: %v", len(got), len(want), got)
	}
}

func TestPackRefusesDeviceNodesInTree(t *testing.T) {
	root := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Skip("cannot make a fifo here:", err)
	}
	if err := pack(filepath.Join(t.TempDir(), "x.cpio.gz"), root); err == nil {
		t.Fatal("a fifo was packed")
	}
}
