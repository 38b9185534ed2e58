// Package kernelcache turns a bzImage into the uncompressed vmlinux it carries, once per kernel, so the guest can
// be started through the kernel's PVH entry without running the kernel's own decompressor (slow where guest
// kernel code is emulated, and start-up time everywhere).
//
// Extracted kernels live in ${XDG_CACHE_HOME:-$HOME/.cache}/paddock/kernels, named by the SHA-256 of the
// bzImage, written atomically and checked again when read. The cache is an optimisation only: when it cannot be
// read or written, the kernel is extracted in memory and the start goes on.
package kernelcache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"paddock/engine/x86"
)

const (
	// MaxVmlinuxSize bounds an extracted kernel; Debian's is about 65 MiB.
	MaxVmlinuxSize = 512 << 20
	// maxEntries bounds the cache: the least recently used kernels beyond this many are removed.
	maxEntries = 8
	// staleTemp is how old an unfinished temporary file must be before pruning takes it for abandoned.
	staleTemp = time.Hour

	vmlinuxSuffix = ".vmlinux"
	noPVHSuffix   = ".no-pvh" // an empty marker: this kernel's vmlinux has no PVH entry, boot the bzImage
	tempPrefix    = ".tmp-"
)

// Cache finds and stores extracted kernels in one directory.
type Cache struct {
	dir string // "" when there is no usable cache directory
	log *slog.Logger
}

// DefaultDir is ${XDG_CACHE_HOME:-$HOME/.cache}/paddock/kernels.
func DefaultDir() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if !filepath.IsAbs(base) { // the XDG spec says to ignore relative paths
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("kernel cache: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "paddock", "kernels"), nil
}

// New returns a cache kept in dir; an empty dir means no cache (every call extracts in memory). log may be nil.
func New(dir string, log *slog.Logger) *Cache {
	if log == nil {
		log = slog.Default()
	}
	return &Cache{dir: dir, log: log}
}

// Open returns the cache in DefaultDir, or a cache-less one when there is no home directory.
func Open(log *slog.Logger) *Cache {
	dir, err := DefaultDir()
	c := New(dir, log)
	if err != nil {
		c.log.Debug("kernel cache disabled", "err", err)
	}
	return c
}

// Vmlinux returns the uncompressed ELF vmlinux inside a bzImage, for booting through its PVH entry
// (x86.LoadKernel accepts it as it accepts the bzImage).
//
// ok is false, with a nil error, when the kernel is best booted as given: it is already an ELF, it is not a
// bzImage (x86.LoadKernel will say why), its payload uses a compression Paddock cannot decode, or its vmlinux has
// no PVH entry. err reports a payload that is damaged; the bzImage's own decompressor would fail on it too.
func (c *Cache) Vmlinux(kernel []byte) (vmlinux []byte, ok bool, err error) {
	if _, err := x86.ParseBzImage(kernel); err != nil {
		return nil, false, nil
	}
	p, err := x86.FindPayload(kernel)
	if err != nil {
		if !errors.Is(err, x86.ErrUnsupportedPayload) {
			return nil, false, err
		}
		c.log.Info("booting the bzImage as is", "reason", err)
		return nil, false, nil
	}
	sum := sha256.Sum256(kernel)
	key := hex.EncodeToString(sum[:])

	if c.dir != "" {
		if c.hasMarker(key) {
			return nil, false, nil
		}
		if data, ok := c.load(key, p.Size); ok {
			return data, true, nil
		}
	}

	start := time.Now()
	data, err := x86.ExtractVmlinux(kernel, MaxVmlinuxSize)
	if err != nil {
		if errors.Is(err, x86.ErrUnsupportedPayload) {
			c.log.Info("booting the bzImage as is", "reason", err)
			return nil, false, nil
		}
		return nil, false, err
	}
	img, err := x86.ParseELF(data)
	if err != nil { // ExtractVmlinux checked this already
		return nil, false, err
	}
	c.log.Debug("extracted the kernel's vmlinux", "format", p.Format, "bytes", len(data), "pvh", img.HasPVH,
		"took", time.Since(start))
	if !img.HasPVH {
		c.log.Info("booting the bzImage as is", "reason", "its vmlinux has no PVH entry note")
		c.store(key+noPVHSuffix, nil)
		return nil, false, nil
	}
	c.store(key+vmlinuxSuffix, data)
	return data, true, nil
}

// hasMarker says whether an earlier extraction found this kernel has no PVH entry.
func (c *Cache) hasMarker(key string) bool {
	path := filepath.Join(c.dir, key+noPVHSuffix)
	if _, err := os.Lstat(path); err != nil {
		return false
	}
	c.touch(path)
	return true
}

// load reads a cached vmlinux and checks it is still what was stored: the size the bzImage announces, an ELF
// with a PVH entry. Anything else is removed, to be extracted again.
func (c *Cache) load(key string, size int64) ([]byte, bool) {
	path := filepath.Join(c.dir, key+vmlinuxSuffix)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.log.Debug("kernel cache unreadable", "path", path, "err", err)
		}
		return nil, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
		c.discard(path, "wrong size or not a regular file")
		return nil, false
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		c.discard(path, err.Error())
		return nil, false
	}
	if img, err := x86.ParseELF(data); err != nil || !img.HasPVH {
		c.discard(path, "not an ELF with a PVH entry")
		return nil, false
	}
	c.touch(path)
	return data, true
}

func (c *Cache) discard(path, why string) {
	c.log.Warn("discarding a damaged cached kernel", "path", path, "reason", why)
	os.Remove(path)
}

// touch marks an entry as recently used, for pruning.
func (c *Cache) touch(path string) {
	now := time.Now()
	os.Chtimes(path, now, now)
}

// store writes an entry atomically (temporary file, fsync, rename), then prunes. Failure only costs the cache.
func (c *Cache) store(name string, data []byte) {
	if c.dir == "" {
		return
	}
	if err := c.write(name, data); err != nil {
		c.log.Debug("not caching the extracted kernel", "dir", c.dir, "err", err)
		return
	}
	c.prune()
}

func (c *Cache) write(name string, data []byte) error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(c.dir, tempPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(c.dir, name))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// prune keeps the maxEntries most recently used entries and removes abandoned temporary files.
func (c *Cache) prune() {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	type entry struct {
		name string
		used time.Time
	}
	var kept []entry
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		name := e.Name()
		switch {
		case strings.HasPrefix(name, tempPrefix):
			if time.Since(info.ModTime()) > staleTemp {
				os.Remove(filepath.Join(c.dir, name))
			}
		case strings.HasSuffix(name, vmlinuxSuffix), strings.HasSuffix(name, noPVHSuffix):
			kept = append(kept, entry{name, info.ModTime()})
		}
	}
	if len(kept) <= maxEntries {
		return
	}
	slices.SortFunc(kept, func(a, b entry) int { return b.used.Compare(a.used) })
	for _, e := range kept[maxEntries:] {
		c.log.Debug("pruning the kernel cache", "removed", e.name)
		os.Remove(filepath.Join(c.dir, e.name))
	}
}
