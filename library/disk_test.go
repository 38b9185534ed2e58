package library

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCreateDiskIsSparseAndAtomic(t *testing.T) {
	ctx := context.Background()
	l := newLibrary(t)
	vm := mustCreate(t, l, basicSpec("vm"))
	const size = 20 << 30
	d0, err := l.CreateDisk(ctx, vm.ID, size)
	if err != nil {
		t.Fatal(err)
	}
	if d0.Path != filepath.Join(l.VMDir(vm.ID), "disk-0.img") || d0.Position != 0 || d0.ReadOnly || d0.SizeBytes != size {
		t.Errorf("first disk %+v", d0)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(d0.Path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != size {
		t.Errorf("apparent size %d, want %d", st.Size, size)
	}
	if st.Blocks*512 > 1<<20 {
		t.Errorf("a new 20 GiB image occupies %d bytes: not sparse", st.Blocks*512)
	}
	if st.Mode&0o777 != 0o600 {
		t.Errorf("image mode %o, want 600", st.Mode&0o777)
	}
	d1, err := l.CreateDisk(ctx, "vm", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(d1.Path) != "disk-1.img" || d1.Position != 1 {
		t.Errorf("second disk %+v", d1)
	}
	entries, _ := os.ReadDir(l.VMDir(vm.ID))
	if len(entries) != 2 {
		t.Errorf("VM directory holds %v, want just the two images (no temporary files)", entries)
	}
	got, _ := l.GetVM(ctx, vm.ID)
	if len(got.Disks) != 2 || got.Disks[0] != d0 || got.Disks[1] != d1 || got.Version != vm.Version+2 {
		t.Errorf("VM disks %+v version %d", got.Disks, got.Version)
	}

	for _, bad := range []int64{0, 1<<20 - 512, 1<<20 + 1, 64<<40 + 512, -1} {
		if _, err := l.CreateDisk(ctx, vm.ID, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateDisk(%d): %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := l.CreateDisk(ctx, "ghost", 1<<20); !errors.Is(err, ErrNotFound) {
		t.Errorf("CreateDisk for a missing VM: %v", err)
	}
	// A file already called disk-2.img (left behind by a crash, or the user's) is never overwritten.
	squatter := writeFile(t, filepath.Join(l.VMDir(vm.ID), "disk-2.img"), []byte("mine"))
	d3, err := l.CreateDisk(ctx, vm.ID, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(d3.Path) != "disk-3.img" {
		t.Errorf("took %s", d3.Path)
	}
	if b, _ := os.ReadFile(squatter); string(b) != "mine" {
		t.Error("an existing disk-2.img was overwritten")
	}
}

func TestAttachDisk(t *testing.T) {
	ctx := context.Background()
	l := newLibrary(t)
	a := mustCreate(t, l, basicSpec("a"))
	b := mustCreate(t, l, basicSpec("b"))
	dir := t.TempDir()
	raw := writeFile(t, filepath.Join(dir, "raw.img"), make([]byte, 4096))
	link := filepath.Join(dir, "link.img")
	if err := os.Symlink(raw, link); err != nil {
		t.Fatal(err)
	}

	d, err := l.AttachDisk(ctx, a.ID, link, false)
	if err != nil {
		t.Fatal(err)
	}
	if d.Path != raw || d.SizeBytes != 4096 || d.ReadOnly {
		t.Errorf("attached %+v: want the resolved path, its size, read-write", d)
	}

	refusals := []struct {
		why, vm, path string
		readOnly      bool
		want          error
	}{
		{"missing file", a.ID, filepath.Join(dir, "missing.img"), false, ErrInvalid},
		{"directory", a.ID, dir, false, ErrInvalid},
		{"relative path", a.ID, "raw.img", false, ErrInvalid},
		{"empty file", a.ID, writeFile(t, filepath.Join(dir, "empty.img"), nil), false, ErrInvalid},
		{"qcow2", a.ID, writeFile(t, filepath.Join(dir, "x.qcow2"), append([]byte("QFI\xfb"), make([]byte, 600)...)), true, ErrInvalid},
		{"the library database", a.ID, filepath.Join(l.HomeDir(), DBName), true, ErrInvalid},
		{"same VM twice", a.ID, raw, true, ErrDiskInUse},
		{"second writer", b.ID, raw, false, ErrDiskInUse},
		{"reader beside a writer", b.ID, raw, true, ErrDiskInUse},
		{"missing VM", "ghost", raw, true, ErrNotFound},
	}
	for _, r := range refusals {
		if _, err := l.AttachDisk(ctx, r.vm, r.path, r.readOnly); !errors.Is(err, r.want) {
			t.Errorf("%s: %v, want %v", r.why, err, r.want)
		}
	}

	// Read-only by everyone is safe.
	shared := writeFile(t, filepath.Join(dir, "base.img"), make([]byte, 512))
	if _, err := l.AttachDisk(ctx, a.ID, shared, true); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AttachDisk(ctx, b.ID, shared, true); err != nil {
		t.Errorf("second read-only attachment: %v", err)
	}
}

func TestDetachAndDeleteDisk(t *testing.T) {
	ctx := context.Background()
	l := newLibrary(t)
	vm := mustCreate(t, l, basicSpec("vm"))
	d0, _ := l.CreateDisk(ctx, vm.ID, 1<<20)
	d1, _ := l.CreateDisk(ctx, vm.ID, 1<<20)
	ext := writeFile(t, filepath.Join(t.TempDir(), "ext.img"), make([]byte, 512))
	d2, err := l.AttachDisk(ctx, vm.ID, ext, false)
	if err != nil {
		t.Fatal(err)
	}

	if err := l.DetachDisk(ctx, vm.ID, d0.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := l.GetVM(ctx, vm.ID)
	if len(got.Disks) != 2 || got.Disks[0].ID != d1.ID || got.Disks[0].Position != 0 ||
		got.Disks[1].ID != d2.ID || got.Disks[1].Position != 1 {
		t.Errorf("after detaching the first disk: %+v", got.Disks)
	}
	if _, err := os.Stat(d0.Path); err != nil {
		t.Errorf("detach deleted the image: %v", err)
	}
	if err := l.DetachDisk(ctx, vm.ID, d0.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("detaching twice: %v", err)
	}

	if err := l.DeleteDisk(ctx, vm.ID, d2.ID); !errors.Is(err, ErrInvalid) {
		t.Errorf("deleting an image outside the VM directory: %v, want ErrInvalid", err)
	}
	if _, err := os.Stat(ext); err != nil {
		t.Errorf("the user's image is gone: %v", err)
	}
	l.SetState(ctx, vm.ID, StateRunning, "")
	if err := l.DeleteDisk(ctx, vm.ID, d1.ID); !errors.Is(err, ErrRunning) {
		t.Errorf("deleting a disk of a running VM: %v", err)
	}
	l.SetState(ctx, vm.ID, StateStopped, "")
	if err := l.DeleteDisk(ctx, vm.ID, d1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d1.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("deleted disk's image still there: %v", err)
	}
	got, _ = l.GetVM(ctx, vm.ID)
	if len(got.Disks) != 1 || got.Disks[0].ID != d2.ID || got.Disks[0].Position != 0 {
		t.Errorf("after DeleteDisk: %+v", got.Disks)
	}
}

func TestDeleteVMFiles(t *testing.T) {
	ctx := context.Background()
	for _, keep := range []bool{false, true} {
		l := newLibrary(t)
		vm := mustCreate(t, l, basicSpec("vm"))
		own, _ := l.CreateDisk(ctx, vm.ID, 1<<20)
		spare, _ := l.CreateDisk(ctx, vm.ID, 1<<20)
		l.DetachDisk(ctx, vm.ID, spare.ID)
		serial := writeFile(t, filepath.Join(l.VMDir(vm.ID), "serial.log"), []byte("boot"))
		ext := writeFile(t, filepath.Join(t.TempDir(), "user.img"), make([]byte, 512))
		if _, err := l.AttachDisk(ctx, vm.ID, ext, false); err != nil {
			t.Fatal(err)
		}
		// Another VM reads an image that lives in this VM's directory: it must survive.
		other := mustCreate(t, l, basicSpec("other"))
		borrowed, _ := l.CreateDisk(ctx, vm.ID, 1<<20)
		l.DetachDisk(ctx, vm.ID, borrowed.ID)
		if _, err := l.AttachDisk(ctx, other.ID, borrowed.Path, true); err != nil {
			t.Fatal(err)
		}
		if _, err := l.AppendAudit(ctx, AuditEntry{VMID: vm.ID, Channel: "clipboard", Direction: "host-to-guest",
			Decision: DecisionDenied}); err != nil {
			t.Fatal(err)
		}

		if err := l.DeleteVM(ctx, vm.ID, keep); err != nil {
			t.Fatalf("keepDisks=%v: %v", keep, err)
		}
		exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
		if exists(serial) {
			t.Errorf("keepDisks=%v: serial.log survived", keep)
		}
		if exists(own.Path) != keep || exists(spare.Path) != keep {
			t.Errorf("keepDisks=%v: own image exists %v, detached image exists %v", keep, exists(own.Path), exists(spare.Path))
		}
		if !exists(ext) {
			t.Errorf("keepDisks=%v: the user's image outside the VM directory was deleted", keep)
		}
		if !exists(borrowed.Path) {
			t.Errorf("keepDisks=%v: an image another VM uses was deleted", keep)
		}
		var rows int
		l.reader.QueryRow(`SELECT (SELECT count(*) FROM disks WHERE vm_id = ?1) + (SELECT count(*) FROM share_policies
			WHERE vm_id = ?1)`, vm.ID).Scan(&rows)
		if rows != 0 {
			t.Errorf("keepDisks=%v: %d disk/policy rows left for the deleted VM", keep, rows)
		}
		if got, _ := l.GetVM(ctx, other.ID); len(got.Disks) != 1 {
			t.Errorf("keepDisks=%v: the other VM lost its disk", keep)
		}
	}
}

func TestISO(t *testing.T) {
	ctx := context.Background()
	l := newLibrary(t)
	vm := mustCreate(t, l, basicSpec("vm"))
	iso := writeFile(t, filepath.Join(t.TempDir(), "debian.iso"), []byte("CD001"))
	if err := l.SetISO(ctx, vm.ID, filepath.Join(filepath.Dir(iso), "nope.iso")); !errors.Is(err, ErrInvalid) {
		t.Errorf("missing ISO: %v", err)
	}
	if err := l.SetISO(ctx, vm.ID, iso); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.GetVM(ctx, vm.ID); got.ISO != iso || got.Version != vm.Version+1 {
		t.Errorf("ISO %q version %d", got.ISO, got.Version)
	}
	if err := l.EjectISO(ctx, vm.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.GetVM(ctx, vm.ID); got.ISO != "" {
		t.Errorf("after eject: %q", got.ISO)
	}
	// An ISO given at creation is checked too.
	spec := basicSpec("installer")
	spec.ISO = iso
	if vm2, err := l.CreateVM(ctx, spec); err != nil || vm2.ISO != iso {
		t.Errorf("CreateVM with ISO: %q, %v", vm2.ISO, err)
	}
}
