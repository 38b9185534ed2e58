package x86

import (
	"os"
	"path/filepath"
	"testing"
)

// debianKernel is where tests/guest/build-linux-guest.sh leaves Debian's linux-image-amd64 kernel (xz payload).
func debianKernel(tb testing.TB) []byte {
	tb.Helper()
	home, err := os.UserHomeDir()
	if err != nil {
		tb.Skipf("no home directory: %v", err)
	}
	matches, _ := filepath.Glob(filepath.Join(home, ".cache/paddock/guests/*-amd64/vmlinuz"))
	if len(matches) == 0 {
		tb.Skip("no Debian kernel under ~/.cache/paddock/guests (tests/guest/build-linux-guest.sh builds it)")
	}
	data, err := os.ReadFile(matches[0])
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func TestExtractVmlinuxDebianKernel(t *testing.T) {
	bz := debianKernel(t)
	p, err := FindPayload(bz)
	if err != nil {
		t.Fatal(err)
	}
	vmlinux, err := ExtractVmlinux(bz, 512<<20)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(vmlinux)) != p.Size {
		t.Fatalf("extracted %d bytes, trailer says %d", len(vmlinux), p.Size)
	}
	img, err := ParseELF(vmlinux)
	if err != nil {
		t.Fatal(err)
	}
	if !img.HasPVH {
		t.Fatal("the Debian kernel's vmlinux has no PVH entry note")
	}
	t.Logf("%s payload %d bytes -> vmlinux %d bytes, PVH entry %#x, %d segments", p.Format, len(p.Data), len(vmlinux), img.PVHEntry, len(img.Segments))
}

func BenchmarkExtractVmlinuxDebianKernel(b *testing.B) {
	bz := debianKernel(b)
	b.SetBytes(int64(len(bz)))
	for b.Loop() {
		if _, err := ExtractVmlinux(bz, 512<<20); err != nil {
			b.Fatal(err)
		}
	}
}
