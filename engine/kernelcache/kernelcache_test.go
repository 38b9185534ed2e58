package kernelcache

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"paddock/engine/x86"
)

// testELF builds a minimal x86-64 ELF vmlinux: one PT_LOAD segment and, if pvh, a PT_NOTE with Xen's
// PHYS32_ENTRY note.
func testELF(pvh bool) []byte {
	le := binary.LittleEndian
	text := bytes.Repeat([]byte{0x90, 0xE8, 0x10, 0x00, 0x00, 0x00, 0xF4}, 600)
	var note []byte
	if pvh {
		note = le.AppendUint32(note, 4)
		note = le.AppendUint32(note, 8)
		note = le.AppendUint32(note, 18)
		note = append(note, "Xen\x00"...)
		note = le.AppendUint64(note, 0x100_0000)
	}
	phnum := 1
	if pvh {
		phnum = 2
	}
	h := make([]byte, 64+56*phnum)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = 2, 1, 1
	le.PutUint16(h[16:], 2)
	le.PutUint16(h[18:], 62)
	le.PutUint32(h[20:], 1)
	le.PutUint64(h[24:], 0x100_0000)
	le.PutUint64(h[32:], 64)
	le.PutUint16(h[52:], 64)
	le.PutUint16(h[54:], 56)
	le.PutUint16(h[56:], uint16(phnum))
	ph := h[64:]
	le.PutUint32(ph[0:], 1) // PT_LOAD
	le.PutUint64(ph[8:], uint64(len(h)))
	le.PutUint64(ph[24:], 0x100_0000)
	le.PutUint64(ph[32:], uint64(len(text)))
	le.PutUint64(ph[40:], uint64(len(text)))
	if pvh {
		ph = h[64+56:]
		le.PutUint32(ph[0:], 4) // PT_NOTE
		le.PutUint64(ph[8:], uint64(len(h)+len(text)))
		le.PutUint64(ph[32:], uint64(len(note)))
		le.PutUint64(ph[48:], 4)
	}
	return append(append(h, text...), note...)
}

// testBzImage wraps a gzip-compressed vmlinux in a bzImage whose setup header x86.ParseBzImage accepts.
func testBzImage(vmlinux []byte) []byte {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(vmlinux)
	w.Close()
	return bzImageWithPayload(z.Bytes())
}

func bzImageWithPayload(payload []byte) []byte {
	le := binary.LittleEndian
	const setup = 5 * 512 // setup_sects 4
	const payloadAt = 0x100
	kernelLen := (payloadAt + len(payload) + 64 + 15) &^ 15
	f := make([]byte, setup+kernelLen)
	f[0x1F1] = 4
	le.PutUint32(f[0x1F4:], uint32(kernelLen/16))
	le.PutUint16(f[0x1FE:], 0xAA55)
	f[0x200], f[0x201] = 0xEB, 0x6A
	copy(f[0x202:], "HdrS")
	le.PutUint16(f[0x206:], 0x020F)
	f[0x211] = 0x01 // LOADED_HIGH
	le.PutUint32(f[0x230:], 0x20_0000)
	f[0x234] = 1
	le.PutUint16(f[0x236:], 0x1) // XLF_KERNEL_64
	le.PutUint32(f[0x248:], payloadAt)
	le.PutUint32(f[0x24C:], uint32(len(payload)))
	copy(f[setup+payloadAt:], payload)
	return f
}

func cacheFile(dir string, bz []byte, suffix string) string {
	sum := sha256.Sum256(bz)
	return filepath.Join(dir, hex.EncodeToString(sum[:])+suffix)
}

func TestVmlinuxExtractsThenReadsTheCache(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kernels")
	c := New(dir, quiet)
	want := testELF(true)
	bz := testBzImage(want)

	got, ok, err := c.Vmlinux(bz)
	if err != nil || !ok || !bytes.Equal(got, want) {
		t.Fatalf("first call: ok %v, err %v, %d bytes (want %d)", ok, err, len(got), len(want))
	}
	path := cacheFile(dir, bz, ".vmlinux")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no cache entry: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache entry mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Fatalf("cache directory mode %v, want 0700", di.Mode().Perm())
	}

	// Change a text byte of the cached copy: still a valid ELF of the right size, so a second call that returns
	// it proves the cache was read rather than the bzImage decompressed again.
	cached, _ := os.ReadFile(path)
	cached[64+56*2+3] ^= 0xFF
	if err := os.WriteFile(path, cached, 0o600); err != nil {
		t.Fatal(err)
	}
	got, ok, err = New(dir, quiet).Vmlinux(bz)
	if err != nil || !ok || !bytes.Equal(got, cached) {
		t.Fatalf("second call did not come from the cache: ok %v, err %v", ok, err)
	}
}

func TestDamagedCacheEntryIsReplaced(t *testing.T) {
	want := testELF(true)
	bz := testBzImage(want)
	for name, damage := range map[string]func(path string){
		"truncated": func(p string) { os.Truncate(p, 100) },
		"not an ELF": func(p string) {
			os.WriteFile(p, bytes.Repeat([]byte{'x'}, len(want)), 0o600)
		},
		"no PVH note": func(p string) {
			b := testELF(false)
			os.WriteFile(p, append(b, make([]byte, len(want)-len(b))...), 0o600)
		},
		"symlink": func(p string) {
			other := filepath.Join(filepath.Dir(p), "other")
			os.WriteFile(other, want, 0o600)
			os.Remove(p)
			os.Symlink(other, p)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			c := New(dir, quiet)
			if _, ok, err := c.Vmlinux(bz); !ok || err != nil {
				t.Fatalf("ok %v err %v", ok, err)
			}
			path := cacheFile(dir, bz, ".vmlinux")
			damage(path)
			got, ok, err := c.Vmlinux(bz)
			if err != nil || !ok || !bytes.Equal(got, want) {
				t.Fatalf("after damage: ok %v, err %v, equal %v", ok, err, bytes.Equal(got, want))
			}
			fi, err := os.Lstat(path)
			if err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("entry not rewritten: %v %v", fi, err)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, want) {
				t.Fatal("rewritten entry differs from the kernel")
			}
		})
	}
}

func TestUnwritableCacheStillExtracts(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(file, nil, 0o600)
	want := testELF(true)
	for _, dir := range []string{filepath.Join(file, "kernels"), ""} {
		got, ok, err := New(dir, quiet).Vmlinux(testBzImage(want))
		if err != nil || !ok || !bytes.Equal(got, want) {
			t.Fatalf("dir %q: ok %v, err %v", dir, ok, err)
		}
	}
}

func TestNoPVHKernelIsRemembered(t *testing.T) {
	dir := t.TempDir()
	bz := testBzImage(testELF(false))
	for i := range 2 {
		got, ok, err := New(dir, quiet).Vmlinux(bz)
		if ok || err != nil || got != nil {
			t.Fatalf("call %d: ok %v err %v", i, ok, err)
		}
		if _, err := os.Stat(cacheFile(dir, bz, ".no-pvh")); err != nil {
			t.Fatalf("call %d: no marker: %v", i, err)
		}
	}
	if _, err := os.Stat(cacheFile(dir, bz, ".vmlinux")); err == nil {
		t.Fatal("a kernel without PVH was cached as a vmlinux")
	}
}

func TestKernelsBootedAsGiven(t *testing.T) {
	dir := t.TempDir()
	c := New(dir, quiet)
	lzo := append([]byte("\x89LZO\x00\r\n\x1a\n"), make([]byte, 64)...)
	for name, kernel := range map[string][]byte{
		"ELF vmlinux":    testELF(true),
		"not a kernel":   []byte("hello"),
		"LZO payload":    bzImageWithPayload(binary.LittleEndian.AppendUint32(lzo, 5000)),
		"unknown format": bzImageWithPayload([]byte("PK\x03\x04 a zip file, say")),
	} {
		got, ok, err := c.Vmlinux(kernel)
		if ok || err != nil || got != nil {
			t.Errorf("%s: ok %v, err %v", name, ok, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("cache holds %d entries for kernels it cannot extract", len(entries))
	}
}

func TestCorruptPayloadIsAnError(t *testing.T) {
	bz := testBzImage(testELF(true))
	for i := 20; i < 40; i++ { // deflate data, past the gzip header
		bz[5*512+0x100+i] ^= 0xA5
	}
	got, ok, err := New(t.TempDir(), quiet).Vmlinux(bz)
	if err == nil || ok || got != nil {
		t.Fatalf("ok %v, err %v", ok, err)
	}
}

func TestPruneKeepsTheMostRecent(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-48 * time.Hour)
	var names []string
	for i := range maxEntries + 3 {
		name := filepath.Join(dir, string(rune('a'+i))+".vmlinux")
		os.WriteFile(name, []byte("x"), 0o600)
		mt := old.Add(time.Duration(i) * time.Minute) // a is the least recently used
		os.Chtimes(name, mt, mt)
		names = append(names, name)
	}
	stale := filepath.Join(dir, ".tmp-123")
	os.WriteFile(stale, nil, 0o600)
	os.Chtimes(stale, old, old)
	fresh := filepath.Join(dir, ".tmp-456")
	os.WriteFile(fresh, nil, 0o600)
	unrelated := filepath.Join(dir, "README")
	os.WriteFile(unrelated, nil, 0o600)

	bz := testBzImage(testELF(true))
	if _, ok, err := New(dir, quiet).Vmlinux(bz); !ok || err != nil {
		t.Fatalf("ok %v err %v", ok, err)
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	if !exists(cacheFile(dir, bz, ".vmlinux")) {
		t.Fatal("the new entry was pruned")
	}
	for i, n := range names {
		// The new entry is the newest, so the oldest four of the eleven go.
		if want := i >= 4; exists(n) != want {
			t.Errorf("%s exists %v, want %v", filepath.Base(n), !want, want)
		}
	}
	if exists(stale) || !exists(fresh) || !exists(unrelated) {
		t.Errorf("temp files: stale kept %v, fresh kept %v, unrelated kept %v", exists(stale), exists(fresh), exists(unrelated))
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/somewhere/cache")
	if d, err := DefaultDir(); err != nil || d != "/somewhere/cache/paddock/kernels" {
		t.Fatalf("%q %v", d, err)
	}
	t.Setenv("XDG_CACHE_HOME", "relative/ignored")
	t.Setenv("HOME", "/home/someone")
	if d, err := DefaultDir(); err != nil || d != "/home/someone/.cache/paddock/kernels" {
		t.Fatalf("%q %v", d, err)
	}
}

// TestDebianKernel runs Debian's kernel (built by tests/guest/build-linux-guest.sh) through the cache: the first
// start extracts, the second only reads a file.
func TestDebianKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("extracting a real kernel takes seconds")
	}
	home, _ := os.UserHomeDir()
	matches, _ := filepath.Glob(filepath.Join(home, ".cache/paddock/guests/*-amd64/vmlinuz"))
	if len(matches) == 0 {
		t.Skip("no Debian kernel under ~/.cache/paddock/guests (tests/guest/build-linux-guest.sh builds it)")
	}
	bz, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	c := New(t.TempDir(), quiet)
	var first []byte
	for i, what := range []string{"extract", "cached"} {
		start := time.Now()
		data, ok, err := c.Vmlinux(bz)
		if err != nil || !ok {
			t.Fatalf("%s: ok %v, err %v", what, ok, err)
		}
		t.Logf("%s: %d bytes in %v", what, len(data), time.Since(start))
		if i == 0 {
			first = data
		} else if !bytes.Equal(first, data) {
			t.Fatal("the cached vmlinux differs from the extracted one")
		}
	}
	img, err := x86.ParseELF(first)
	if err != nil || !img.HasPVH {
		t.Fatalf("ParseELF: %+v %v", img, err)
	}
}

var quiet = slog.New(slog.DiscardHandler)
