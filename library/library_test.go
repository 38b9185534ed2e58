package library

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newLibrary(t testing.TB) *Library {
	t.Helper()
	l, err := Open(t.TempDir())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func basicSpec(name string) VMSpec {
	return VMSpec{Name: name, OS: "Debian 12", CPUs: 2, MemoryMiB: 1024}
}

func mustCreate(t testing.TB, l *Library, spec VMSpec) VM {
	t.Helper()
	vm, err := l.CreateVM(context.Background(), spec)
	if err != nil {
		t.Fatalf("CreateVM(%q): %v", spec.Name, err)
	}
	return vm
}

func TestHome(t *testing.T) {
	t.Setenv("PADDOCK_HOME", "/srv/paddock")
	t.Setenv("XDG_DATA_HOME", "/xdg")
	if h, err := Home(); err != nil || h != "/srv/paddock" {
		t.Errorf("with PADDOCK_HOME: Home() = %q, %v", h, err)
	}
	t.Setenv("PADDOCK_HOME", "")
	if h, err := Home(); err != nil || h != "/xdg/paddock" {
		t.Errorf("with XDG_DATA_HOME: Home() = %q, %v", h, err)
	}
	t.Setenv("XDG_DATA_HOME", "relative/is/ignored")
	t.Setenv("HOME", "/home/someone")
	if h, err := Home(); err != nil || h != "/home/someone/.local/share/paddock" {
		t.Errorf("with neither: Home() = %q, %v", h, err)
	}
}

func TestOpenCreatesPrivateFilesWithSafeSettings(t *testing.T) {
	home := filepath.Join(t.TempDir(), "new", "paddock")
	l, err := Open(home)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.CreateVM(context.Background(), basicSpec("one")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{home, filepath.Join(home, "vms")} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Errorf("%s has mode %v, want 0700", p, st.Mode().Perm())
		}
	}
	for _, name := range []string{DBName, DBName + "-wal", DBName + "-shm"} {
		st, err := os.Stat(filepath.Join(home, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, st.Mode().Perm())
		}
	}
	ctx := context.Background()
	checks := map[string]string{
		"journal_mode": "wal", "foreign_keys": "1", "synchronous": "2", "busy_timeout": "10000",
		"user_version": fmt.Sprint(SchemaVersion()),
	}
	for pragma, want := range checks {
		var got string
		if err := l.writer.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("writer: PRAGMA %s = %s, want %s", pragma, got, want)
		}
		if err := l.reader.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("reader: PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	// The reader pool must not be able to write, whatever a future caller does with it.
	if _, err := l.reader.ExecContext(ctx, `DELETE FROM vms`); err == nil {
		t.Error("the read-only pool accepted a write")
	}
}

func TestOpenTightensExistingDatabaseMode(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, DBName), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(home, DBName), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Open(home)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	st, _ := os.Stat(filepath.Join(home, DBName))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("library.db mode %v, want 0600", st.Mode().Perm())
	}
}

func TestCreateListEditDelete(t *testing.T) {
	ctx := context.Background()
	l := newLibrary(t)
	b := mustCreate(t, l, basicSpec("beta"))
	a := mustCreate(t, l, VMSpec{Name: "Alpha", CPUs: 1, MemoryMiB: 64, ScreenWidth: 1280, ScreenHeight: 800,
		BootOrder: " CDROM , disk"})
	mustCreate(t, l, basicSpec("gamma"))

	if !isID(a.ID) || a.ID == b.ID {
		t.Errorf("ids %q, %q: want distinct UUIDs", a.ID, b.ID)
	}
	if a.Boot != BootFirmware || a.BootOrder != "cdrom,disk" || a.State != StateStopped || a.Version != 1 {
		t.Errorf("new VM: boot %q order %q state %q version %d", a.Boot, a.BootOrder, a.State, a.Version)
	}
	if b.BootOrder != DefaultBootOrder {
		t.Errorf("default boot order %q", b.BootOrder)
	}
	if a.Created.IsZero() || a.Updated.IsZero() {
		t.Error("created/updated times not set")
	}
	if st, err := os.Stat(l.VMDir(a.ID)); err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Errorf("VM directory: %v %v", st, err)
	}

	vms, err := l.ListVMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, vm := range vms {
		names = append(names, vm.Name)
	}
	if strings.Join(names, ",") != "Alpha,beta,gamma" {
		t.Errorf("ListVMs order = %v, want Alpha,beta,gamma", names)
	}

	for _, ref := range []string{a.ID, "alpha", "ALPHA", strings.ToUpper(a.ID)} {
		got, err := l.GetVM(ctx, ref)
		if err != nil || got.ID != a.ID {
			t.Errorf("GetVM(%q) = %q, %v", ref, got.ID, err)
		}
	}
	if _, err := l.GetVM(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetVM(missing) error %v, want ErrNotFound", err)
	}

	edited, err := l.UpdateVM(ctx, a.ID, VMUpdate{CPUs: new(4), MemoryMiB: new(2048), Cmdline: new("quiet")})
	if err != nil {
		t.Fatal(err)
	}
	if edited.CPUs != 4 || edited.MemoryMiB != 2048 || edited.Cmdline != "quiet" || edited.Name != "Alpha" ||
		edited.ScreenWidth != 1280 || edited.Version != 2 {
		t.Errorf("after edit: %+v", edited.VMSpec)
	}
	renamed, err := l.RenameVM(ctx, "alpha", "Zeta")
	if err != nil || renamed.Name != "Zeta" {
		t.Fatalf("RenameVM: %q, %v", renamed.Name, err)
	}

	if err := l.DeleteVM(ctx, "beta", false); err != nil {
		t.Fatal(err)
	}
	if _, err := l.GetVM(ctx, b.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted VM still there: %v", err)
	}
	if _, err := os.Stat(l.VMDir(b.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("deleted VM's directory still there: %v", err)
	}
	if err := l.DeleteVM(ctx, "beta", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
	vms, _ = l.ListVMs(ctx)
	if len(vms) != 2 || vms[0].Name != "gamma" || vms[1].Name != "Zeta" {
		t.Errorf("after delete: %v", vms)
	}
}

func TestNamesAreUniqueIgnoringCase(t *testing.T) {
	ctx := context.Background()
	l := newLibrary(t)
	web := mustCreate(t, l, basicSpec("Web Server"))
	db := mustCreate(t, l, basicSpec("db"))
	if _, err := l.CreateVM(ctx, basicSpec("web server")); !errors.Is(err, ErrNameTaken) {
		t.Errorf("second VM named like the first: %v, want ErrNameTaken", err)
	}
	if _, err := l.RenameVM(ctx, db.ID, "WEB SERVER"); !errors.Is(err, ErrNameTaken) {
		t.Errorf("renaming onto another's name: %v, want ErrNameTaken", err)
	}
	if vm, err := l.RenameVM(ctx, web.ID, "web server"); err != nil || vm.Name != "web server" {
		t.Errorf("changing only the case of its own name: %q, %v", vm.Name, err)
	}
	vms, _ := l.ListVMs(ctx)
	if len(vms) != 2 {
		t.Errorf("%d VMs after refused creates, want 2", len(vms))
	}
	if entries, _ := os.ReadDir(filepath.Join(l.HomeDir(), "vms")); len(entries) != 2 {
		t.Errorf("%d VM directories, want 2: a refused create must leave none", len(entries))
	}
}

func TestBadInputIsRefused(t *testing.T) {
	ctx := context.Background()
	l := newLibrary(t)
	kernel := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(kernel, []byte("kernel"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		field string
		edit  func(*VMSpec)
	}{
		{"name", func(s *VMSpec) { s.Name = "" }},
		{"name", func(s *VMSpec) { s.Name = strings.Repeat("x", 65) }},
		{"name", func(s *VMSpec) { s.Name = "a/b" }},
		{"name", func(s *VMSpec) { s.Name = "tab\there" }},
		{"name", func(s *VMSpec) { s.Name = "héllo" }},
		{"name", func(s *VMSpec) { s.Name = " padded" }},
		{"name", func(s *VMSpec) { s.Name = "0f8fad5b-d9cb-469f-a165-70867728950e" }},
		{"cpus", func(s *VMSpec) { s.CPUs = 0 }},
		{"cpus", func(s *VMSpec) { s.CPUs = 256 }},
		{"memory", func(s *VMSpec) { s.MemoryMiB = 63 }},
		{"boot", func(s *VMSpec) { s.Boot = "bios" }},
		{"kernel", func(s *VMSpec) { s.Boot = BootDirect }},
		{"kernel", func(s *VMSpec) { s.Boot, s.Kernel = BootDirect, "vmlinuz" }},
		{"kernel", func(s *VMSpec) { s.Boot, s.Kernel = BootDirect, "/no/such/vmlinuz" }},
		{"kernel", func(s *VMSpec) { s.Boot, s.Kernel = BootDirect, t.TempDir() }},
		{"iso", func(s *VMSpec) { s.ISO = "/no/such.iso" }},
		{"cmdline", func(s *VMSpec) { s.Boot, s.Kernel, s.Cmdline = BootDirect, kernel, "a\nb" }},
		{"cmdline", func(s *VMSpec) { s.Cmdline = strings.Repeat("x", MaxCmdlineLen+1) }},
		{"boot order", func(s *VMSpec) { s.BootOrder = "disk,net" }},
		{"boot order", func(s *VMSpec) { s.BootOrder = "disk,disk" }},
		{"screen", func(s *VMSpec) { s.ScreenWidth, s.ScreenHeight = 100, 100 }},
		{"screen", func(s *VMSpec) { s.ScreenWidth = 1024 }},
		{"os", func(s *VMSpec) { s.OS = "\x1b[31mred" }},
	}
	for _, c := range cases {
		spec := basicSpec("ok")
		c.edit(&spec)
		_, err := l.CreateVM(ctx, spec)
		var ve *ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) || ve.Field != c.field {
			t.Errorf("%+v: error %v, want a validation error on %q", spec, err, c.field)
		}
	}
	// The same spec made valid is accepted: the cases above failed for their own reason.
	good := basicSpec("ok")
	good.Boot, good.Kernel, good.Cmdline = BootDirect, kernel, "console=ttyS0"
	vm := mustCreate(t, l, good)
	if _, err := l.UpdateVM(ctx, vm.ID, VMUpdate{CPUs: new(0)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("UpdateVM with 0 CPUs: %v", err)
	}
	if got, _ := l.GetVM(ctx, vm.ID); got.CPUs != 2 || got.Version != 1 {
		t.Errorf("refused update changed the VM: cpus %d version %d", got.CPUs, got.Version)
	}
	if err := l.SetState(ctx, vm.ID, "exploded", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetState(unknown state): %v", err)
	}
}

func TestUpdateIsOptimistic(t *testing.T) {
	ctx := context.Background()
	l := newLibrary(t)
	kernel := filepath.Join(t.TempDir(), "bzImage")
	os.WriteFile(kernel, []byte("k"), 0o600)
	spec := basicSpec("vm")
	spec.Boot, spec.Kernel = BootDirect, kernel
	vm := mustCreate(t, l, spec)

	// Two editors read version 1; the first to save wins, the second is told.
	first, err := l.UpdateVM(ctx, vm.ID, VMUpdate{ExpectVersion: vm.Version, CPUs: new(8)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.UpdateVM(ctx, vm.ID, VMUpdate{ExpectVersion: vm.Version, MemoryMiB: new(4096)}); !errors.Is(err, ErrConflict) {
		t.Errorf("stale update: %v, want ErrConflict", err)
	}
	got, _ := l.GetVM(ctx, vm.ID)
	if got.CPUs != 8 || got.MemoryMiB != 1024 {
		t.Errorf("after conflict: cpus %d memory %d, want 8 and 1024", got.CPUs, got.MemoryMiB)
	}
	// An update that changes nothing keeps the version.
	same, err := l.UpdateVM(ctx, vm.ID, VMUpdate{ExpectVersion: first.Version, CPUs: new(8)})
	if err != nil || same.Version != first.Version {
		t.Errorf("no-op update: version %d -> %d, %v", first.Version, same.Version, err)
	}
	// State bookkeeping is not a configuration change.
	if err := l.SetState(ctx, vm.ID, StateRunning, ""); err != nil {
		t.Fatal(err)
	}
	// The kernel went away since it was chosen: unrelated edits still work.
	os.Remove(kernel)
	after, err := l.UpdateVM(ctx, vm.ID, VMUpdate{ExpectVersion: first.Version, Name: new("renamed")})
	if err != nil {
		t.Fatalf("edit after kernel vanished: %v", err)
	}
	if after.Version != first.Version+1 || after.State != StateRunning {
		t.Errorf("version %d state %s", after.Version, after.State)
	}
}

func TestSetState(t *testing.T) {
	ctx := context.Background()
	l := newLibrary(t)
	vm := mustCreate(t, l, basicSpec("vm"))
	if err := l.SetState(ctx, vm.ID, StateCrashed, "vCPU 0: KVM internal error\x00\xff"); err != nil {
		t.Fatal(err)
	}
	got, _ := l.GetVM(ctx, vm.ID)
	if got.State != StateCrashed || !strings.HasPrefix(got.LastError, "vCPU 0: KVM internal error") {
		t.Errorf("state %q error %q", got.State, got.LastError)
	}
	if err := l.SetState(ctx, "vm", StateRunning, ""); err != nil {
		t.Fatal(err)
	}
	got, _ = l.GetVM(ctx, vm.ID)
	if got.State != StateRunning || got.LastError != "" || got.Version != vm.Version {
		t.Errorf("state %q error %q version %d", got.State, got.LastError, got.Version)
	}
	if err := l.DeleteVM(ctx, vm.ID, false); !errors.Is(err, ErrRunning) {
		t.Errorf("deleting a running VM: %v, want ErrRunning", err)
	}
	if err := l.SetState(ctx, "ghost", StateStopped, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetState(missing VM): %v", err)
	}
	long := strings.Repeat("é", MaxLastErrLen)
	if err := l.SetState(ctx, vm.ID, StateCrashed, long); err != nil {
		t.Fatal(err)
	}
	got, _ = l.GetVM(ctx, vm.ID)
	if len(got.LastError) > MaxLastErrLen || !strings.HasPrefix(long, got.LastError) {
		t.Errorf("long error stored as %d bytes", len(got.LastError))
	}
}

func TestSharingStartsOff(t *testing.T) {
	ctx := context.Background()
	l := newLibrary(t)
	vm := mustCreate(t, l, basicSpec("vm"))
	want := SharePolicy{Clipboard: ClipboardOff, ClipboardMaxBytes: 1 << 20, ClipboardAsk: true}
	if vm.Sharing != want || len(vm.Shares) != 0 {
		t.Errorf("new VM sharing %+v shares %v, want %+v and none", vm.Sharing, vm.Shares, want)
	}
	var n int
	l.reader.QueryRow(`SELECT count(*) FROM share_policies WHERE vm_id = ? AND clipboard = 'off'`, vm.ID).Scan(&n)
	if n != 1 {
		t.Errorf("%d stored 'off' policy rows, want 1", n)
	}

	p := SharePolicy{Clipboard: ClipboardHostToGuest, ClipboardMaxBytes: 4096, ClipboardAsk: false}
	if err := l.SetSharePolicy(ctx, vm.ID, p); err != nil {
		t.Fatal(err)
	}
	if err := l.SetSharePolicy(ctx, vm.ID, SharePolicy{Clipboard: "sideways", ClipboardMaxBytes: 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown clipboard mode: %v", err)
	}
	if err := l.SetSharePolicy(ctx, vm.ID, SharePolicy{Clipboard: ClipboardBoth}); !errors.Is(err, ErrInvalid) {
		t.Errorf("zero clipboard size: %v", err)
	}

	folder := t.TempDir()
	s, err := l.AddShare(ctx, vm.ID, Share{HostDir: folder, Tag: "docs", ReadOnly: true, Transient: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddShare(ctx, vm.ID, Share{HostDir: folder, Tag: "docs"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("duplicate tag: %v", err)
	}
	if _, err := l.AddShare(ctx, vm.ID, Share{HostDir: l.HomeDir(), Tag: "home"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("sharing the data directory: %v", err)
	}
	if _, err := l.AddShare(ctx, vm.ID, Share{HostDir: l.VMDir(vm.ID), Tag: "vmdir"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("sharing a VM directory: %v", err)
	}
	if _, err := l.AddShare(ctx, vm.ID, Share{HostDir: "/", Tag: "root"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("sharing /: %v", err)
	}
	if _, err := l.AddShare(ctx, vm.ID, Share{HostDir: folder, Tag: "a b"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad tag: %v", err)
	}
	got, _ := l.GetVM(ctx, vm.ID)
	if got.Sharing != p || len(got.Shares) != 1 || got.Shares[0] != s || !s.ReadOnly {
		t.Errorf("after changes: %+v %+v", got.Sharing, got.Shares)
	}
	if err := l.ClearTransientShares(ctx, vm.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.GetVM(ctx, vm.ID); len(got.Shares) != 0 {
		t.Errorf("transient share survived power-off: %+v", got.Shares)
	}
	if err := l.RemoveShare(ctx, vm.ID, "docs"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing a cleared share: %v", err)
	}
}
