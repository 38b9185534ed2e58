package media

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCacheReuse(t *testing.T) {
	dir := t.TempDir()
	spec := DataOnly()
	if missing := Missing(spec); len(missing) > 0 {
		t.Skipf("needs Debian packages %s", strings.Join(missing, ", "))
	}
	first, err := BuildIn(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(first)
	if err != nil {
		t.Fatal(err)
	}
	again, err := BuildIn(dir, spec)
	if err != nil || again != first {
		t.Fatalf("second build gave %q (%v), want the cached %q", again, err, first)
	}
	if after, _ := os.Stat(again); !after.ModTime().Equal(before.ModTime()) {
		t.Error("the cached image was rebuilt")
	}

	spec.VolumeID = "OTHER_DATA"
	other, err := BuildIn(dir, spec)
	if err != nil || other == first {
		t.Fatalf("a changed spec gave %q (%v), want a new image", other, err)
	}
	if _, err := os.Stat(first); !os.IsNotExist(err) {
		t.Errorf("the stale image %s is still there", first)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("cache holds %d entries, want the one image", len(entries))
	}
}

func TestCacheDirFollowsXDG(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/somewhere/cache")
	if dir, err := CacheDir(); err != nil || dir != filepath.FromSlash("/somewhere/cache/paddock/media") {
		t.Errorf("CacheDir() = %q, %v", dir, err)
	}
}

// recorder stands in for a test so Get's skip and failure can be observed.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Skip(args ...any)             { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatal(args ...any)            { r.failed = fmt.Sprint(args...) }
func (r *recorder) Fatalf(f string, args ...any) { r.failed = fmt.Sprintf(f, args...) }

func TestMissingTools(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	spec := Grub()
	if got := Missing(spec); !strings.Contains(strings.Join(got, " "), "xorriso") || !strings.Contains(strings.Join(got, " "), "grub-common") {
		t.Errorf("Missing with an empty PATH = %v, want xorriso and the GRUB packages", got)
	}

	t.Setenv("PADDOCK_REQUIRE_MEDIA", "")
	r := &recorder{TB: t}
	if p := Get(r, spec); p != "" || r.failed != "" || !strings.Contains(r.skipped, "apt-get install -y xorriso") {
		t.Errorf("without the tools: path %q, skipped %q, failed %q; want a skip naming the packages", p, r.skipped, r.failed)
	}

	t.Setenv("PADDOCK_REQUIRE_MEDIA", "1")
	r = &recorder{TB: t}
	if Get(r, spec); r.skipped != "" || !strings.Contains(r.failed, "PADDOCK_REQUIRE_MEDIA=1") {
		t.Errorf("with PADDOCK_REQUIRE_MEDIA=1: skipped %q, failed %q; want a failure", r.skipped, r.failed)
	}
}
