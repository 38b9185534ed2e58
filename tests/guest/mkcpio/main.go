// Command mkcpio packs a directory into a gzip-compressed newc cpio archive, the initramfs format, with every
// entry owned by root and dated 0 (so the archive is reproducible), plus /dev/console: the kernel opens it for
// /init's standard streams before any devtmpfs is mounted, and writing the node into the archive needs no root.
//
// Usage: mkcpio -o OUT.cpio.gz DIR
package main

import (
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

func main() {
	out := flag.String("o", "", "output `file` (.cpio.gz)")
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: mkcpio -o OUT.cpio.gz DIR")
		os.Exit(2)
	}
	if err := pack(*out, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "mkcpio:", err)
		os.Exit(1)
	}
}

func pack(out, root string) (err error) {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		return err
	}
	w := &writer{w: zw}
	hasDev := false
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		if rel == "dev" {
			hasDev = true
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		perm := uint32(info.Mode().Perm())
		switch {
		case info.Mode().IsDir():
			return w.entry(rel, syscall.S_IFDIR|perm, 0, 0, nil)
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return w.entry(rel, syscall.S_IFLNK|0o777, 0, 0, []byte(target))
		case info.Mode().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return w.entry(rel, syscall.S_IFREG|perm, 0, 0, data)
		default:
			return fmt.Errorf("%s: unsupported file type %v", rel, info.Mode().Type())
		}
	})
	if err != nil {
		return err
	}
	if !hasDev {
		if err := w.entry("dev", syscall.S_IFDIR|0o755, 0, 0, nil); err != nil {
			return err
		}
	}
	if err := w.entry("dev/console", syscall.S_IFCHR|0o600, 5, 1, nil); err != nil {
		return err
	}
	if err := w.entry("TRAILER!!!", 0, 0, 0, nil); err != nil {
		return err
	}
	return zw.Close()
}

// writer emits newc ("070701") records.
type writer struct {
	w   io.Writer
	ino uint32
	off int64
}

func (w *writer) write(p []byte) error {
	n, err := w.w.Write(p)
	w.off += int64(n)
	return err
}

func (w *writer) pad() error {
	if r := w.off % 4; r != 0 {
		return w.write(make([]byte, 4-r))
	}
	return nil
}

func (w *writer) entry(name string, mode, rdevMajor, rdevMinor uint32, data []byte) error {
	if uint64(len(data)) > 0xffffffff {
		return errors.New(name + ": too big for cpio")
	}
	w.ino++
	nlink := uint32(1)
	if mode&syscall.S_IFMT == syscall.S_IFDIR {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		w.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	if err := w.write([]byte(hdr)); err != nil {
		return err
	}
	if err := w.write(append([]byte(name), 0)); err != nil {
		return err
	}
	if err := w.pad(); err != nil {
		return err
	}
	if err := w.write(data); err != nil {
		return err
	}
	return w.pad()
}
