package engine_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"paddock/engine/control"
	"paddock/engine/virtio/ninep"
	"paddock/engine/virtio/ninep/nineptest"
	"paddock/engine/vmm"
	"paddock/sharing/p9"
	"paddock/sharing/shareserver"
	"paddock/tests/testenv"
)

// The folder-share tests drive the real virtio-9p device model as the guest's 9p transport would, against a real
// `paddock-vmm share-server` process, jailed as in production. Only the last two need KVM.

// leanVMM is the paddock-vmm program TestMain built beside paddock.
func leanVMM(t *testing.T) string {
	t.Helper()
	if paddockBuildErr != nil {
		t.Fatalf("build: %v", paddockBuildErr)
	}
	return filepath.Join(filepath.Dir(paddockBin), "paddock-vmm")
}

// served is one share: its server process, and the device with a guest-side client on it.
type served struct {
	c      *nineptest.Client
	dev    *ninep.Device
	conn   *ninep.Conn
	proc   *os.Process
	exited chan struct{} // closed when the server process has ended
	log    string
}

func serveShare(t *testing.T, dir string, readOnly bool) *served {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "share-server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	vmmEnd, proc, err := shareserver.Spawn(leanVMM(t), shareserver.Share{HostDir: dir, Tag: "docs", ReadOnly: readOnly}, logFile)
	if err != nil {
		t.Fatal(err)
	}
	s := &served{proc: proc, exited: make(chan struct{}), log: logPath}
	go func() { proc.Wait(); close(s.exited) }()
	s.conn = ninep.NewConn(vmmEnd, nil)
	vmmEnd.Close()
	if s.dev, err = ninep.New("docs", s.conn, nil); err != nil {
		t.Fatal(err)
	}
	if s.c, err = nineptest.Attach(s.dev); err != nil {
		t.Fatal(err)
	}
	s.c.Timeout = 10 * time.Second
	t.Cleanup(func() {
		s.c.Close()
		s.conn.Close()
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			t.Error("the share server outlived its connection")
			proc.Kill()
		}
		if t.Failed() {
			raw, _ := os.ReadFile(logPath)
			t.Logf("share server log:\n%s", raw)
		}
	})
	if err := s.c.Mount(0); err != nil {
		t.Fatalf("mount: %v", err)
	}
	return s
}

func (s *served) errno(m p9.Msg) unix.Errno { return nineptest.Errno(s.c.RPC(m)) }

func write(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestShareReadOnly(t *testing.T) {
	dir := t.TempDir()
	big := make([]byte, 1<<20+123)
	for i := range big {
		big[i] = byte(i*7 + i>>11)
	}
	write(t, filepath.Join(dir, "docs", "big.bin"), big)
	write(t, filepath.Join(dir, "a.txt"), []byte("hello"))
	before := testenv.TreeState(t, dir)
	s := serveShare(t, dir, true)

	if err := s.c.Walk(0, 1, "docs", "big.bin"); err != nil {
		t.Fatal(err)
	}
	got, err := s.c.ReadAll(1)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read %d bytes (%v), want the file's %d byte for byte", len(got), err, len(big))
	}
	if err := s.c.Walk(0, 2, "a.txt"); err != nil {
		t.Fatal(err)
	}
	if err := s.c.Walk(0, 3, "docs"); err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		what string
		m    p9.Msg
	}{
		{"open for writing", &p9.Tlopen{Fid: 2, Flags: unix.O_WRONLY}},
		{"open read-write", &p9.Tlopen{Fid: 2, Flags: unix.O_RDWR}},
		{"open truncating", &p9.Tlopen{Fid: 2, Flags: unix.O_RDONLY | unix.O_TRUNC}},
		{"create", &p9.Tlcreate{Fid: 3, Name: "new", Flags: unix.O_RDWR | unix.O_CREAT, Mode: 0o644}},
		{"mkdir", &p9.Tmkdir{Dfid: 0, Name: "d", Mode: 0o755}},
		{"symlink", &p9.Tsymlink{Fid: 0, Name: "l", Target: "a.txt"}},
		{"hard link", &p9.Tlink{Dfid: 0, Fid: 2, Name: "l"}},
		{"mknod", &p9.Tmknod{Dfid: 0, Name: "n", Mode: unix.S_IFIFO | 0o644}},
		{"remove", &p9.Tunlinkat{DirFid: 0, Name: "a.txt"}},
		{"rmdir", &p9.Tunlinkat{DirFid: 0, Name: "docs", Flags: unix.AT_REMOVEDIR}},
		{"rename", &p9.Trenameat{OldDirFid: 0, OldName: "a.txt", NewDirFid: 3, NewName: "moved"}},
		{"chmod", &p9.Tsetattr{Fid: 2, Valid: p9.SetattrMode, Mode: 0o777}},
		{"truncate", &p9.Tsetattr{Fid: 2, Valid: p9.SetattrSize}},
		{"set times", &p9.Tsetattr{Fid: 2, Valid: p9.SetattrAtime | p9.SetattrMtime}},
		{"chown", &p9.Tsetattr{Fid: 2, Valid: p9.SetattrUID, UID: 0}},
		{"xattr set", &p9.Txattrcreate{Fid: 2, Name: "user.x", AttrSize: 1}},
	}
	for _, r := range refused {
		if e := s.errno(r.m); e != unix.EROFS && e != unix.EACCES && e != unix.EPERM {
			t.Errorf("%s: errno %v, want EROFS or EACCES", r.what, e)
		}
	}
	// Opened for reading, writes are still refused.
	if e := s.errno(&p9.Tlopen{Fid: 2, Flags: unix.O_RDONLY}); e != 0 {
		t.Fatal(e)
	}
	if e := s.errno(&p9.Twrite{Fid: 2, Data: []byte("changed")}); e != unix.EROFS && e != unix.EBADF {
		t.Errorf("write: errno %v, want EROFS", e)
	}
	if after := testenv.TreeState(t, dir); after != before {
		t.Errorf("the read-only share changed on the host:\n%s\nwas\n%s", after, before)
	}
}

// escapeLayout is a share beside a folder it must never reveal.
func escapeLayout(t *testing.T) (share, outside string) {
	base := t.TempDir()
	share, outside = filepath.Join(base, "share"), filepath.Join(base, "outside")
	write(t, filepath.Join(outside, "secret"), []byte("OUTSIDE-SECRET"))
	write(t, filepath.Join(share, "d", "f"), []byte("inside"))
	for name, target := range map[string]string{
		"abs":    filepath.Join(outside, "secret"),
		"absdir": outside,
		"rel":    "../outside/secret",
		"reldir": "../outside",
		"procfd": "/proc/self/fd/3",
		"root":   "/",
	} {
		if err := os.Symlink(target, filepath.Join(share, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mkfifo(filepath.Join(share, "fifo"), 0o666); err != nil {
		t.Fatal(err)
	}
	// A device node, where the test may make one.
	_ = unix.Mknod(filepath.Join(share, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
	return share, outside
}

func TestShareEscapesAreRefused(t *testing.T) {
	share, outside := escapeLayout(t)
	outsideBefore := testenv.TreeState(t, outside)
	s := serveShare(t, share, false)
	fid := uint32(10)
	next := func() uint32 { fid++; return fid }

	// Reading through anything that leads outside fails: symlinks are never followed, ".." stops at the root.
	for _, path := range [][]string{
		{"abs"}, {"absdir", "secret"}, {"rel"}, {"reldir", "secret"}, {"procfd"}, {"root", "etc", "passwd"},
		{"..", "outside", "secret"}, {"d", "..", "..", "outside", "secret"}, {"..", "..", "..", "etc", "passwd"},
	} {
		f := next()
		if err := s.c.Walk(0, f, path...); err == nil {
			if got, err := s.c.ReadAll(f); err == nil || strings.Contains(string(got), "SECRET") || strings.Contains(string(got), "root:") {
				t.Errorf("%v: read %q", path, got)
			}
		}
	}
	// ".." at the root is the root.
	root, _ := s.c.RPC(&p9.Twalk{Fid: 0, NewFid: next(), Names: nil})
	up, _ := s.c.RPC(&p9.Twalk{Fid: 0, NewFid: next(), Names: []string{"..", ".."}})
	if w, ok := up.(*p9.Rwalk); !ok || len(w.Qids) != 2 || root == nil {
		t.Errorf("walking .. from the root: %#v", up)
	} else if rootAttr, upAttr := s.getattr(t, fid-1), s.getattr(t, fid); rootAttr != upAttr {
		t.Errorf(".. from the root is inode %d, the root is %d", upAttr, rootAttr)
	}
	// Names with a slash never reach the server's file system.
	if e := s.errno(&p9.Twalk{Fid: 0, NewFid: next(), Names: []string{"../outside"}}); e == 0 {
		t.Error("a walk name with a slash was accepted")
	}

	// A symlink the guest makes is stored but never followed.
	if e := s.errno(&p9.Tsymlink{Fid: 0, Name: "evil", Target: outside}); e != 0 {
		t.Fatalf("symlink in a read-write share: %v", e)
	}
	if err := s.c.Walk(0, next(), "evil", "secret"); err == nil {
		t.Error("walked through a guest-made symlink")
	}
	f := next()
	if err := s.c.Walk(0, f, "evil"); err != nil {
		t.Fatal(err)
	}
	if e := s.errno(&p9.Tlopen{Fid: f, Flags: unix.O_RDONLY}); e == 0 {
		t.Error("opened a guest-made symlink to outside")
	}
	if e := s.errno(&p9.Tlcreate{Fid: f, Name: "x", Flags: unix.O_RDWR | unix.O_CREAT}); e == 0 {
		t.Error("created a file through a guest-made symlink")
	}
	// Hard links, renames and creates that name anything but one entry are refused.
	dirFid := func() uint32 { // a fresh fid on the root, for a create that turns it into the new file
		f := next()
		if err := s.c.Walk(0, f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	sec := next()
	if err := s.c.Walk(0, sec, "d", "f"); err != nil {
		t.Fatal(err)
	}
	for what, m := range map[string]p9.Msg{
		"hard link":          &p9.Tlink{Dfid: 0, Fid: sec, Name: "hl"},
		"rename to outside":  &p9.Trenameat{OldDirFid: 0, OldName: "d", NewDirFid: 0, NewName: "../outside/d"},
		"rename from above":  &p9.Trenameat{OldDirFid: 0, OldName: "../outside/secret", NewDirFid: 0, NewName: "stolen"},
		"create above":       &p9.Tlcreate{Fid: next(), Name: "../planted", Flags: unix.O_RDWR | unix.O_CREAT},
		"mkdir above":        &p9.Tmkdir{Dfid: 0, Name: "../planted", Mode: 0o755},
		"unlink above":       &p9.Tunlinkat{DirFid: 0, Name: "../outside/secret"},
		"device node":        &p9.Tmknod{Dfid: 0, Name: "dev", Mode: unix.S_IFCHR | 0o666, Major: 1, Minor: 3},
		"fifo":               &p9.Tmknod{Dfid: 0, Name: "p", Mode: unix.S_IFIFO | 0o666},
		"setuid create":      &p9.Tlcreate{Fid: dirFid(), Name: "suid", Flags: unix.O_RDWR | unix.O_CREAT, Mode: 0o4755},
		"rename via symlink": &p9.Trenameat{OldDirFid: 0, OldName: "d", NewDirFid: f, NewName: "d"},
	} {
		e := s.errno(m)
		if what == "setuid create" {
			if st, err := os.Stat(filepath.Join(share, "suid")); err == nil && st.Mode()&os.ModeSetuid != 0 {
				t.Error("a setuid file was made")
			}
			continue
		}
		if e == 0 {
			t.Errorf("%s: accepted", what)
		}
	}
	// FIFOs and device nodes are never opened (and a FIFO never blocks the server).
	for _, name := range []string{"fifo", "null"} {
		if _, err := os.Lstat(filepath.Join(share, name)); err != nil {
			continue
		}
		f := next()
		if err := s.c.Walk(0, f, name); err != nil {
			t.Fatalf("walk %s: %v", name, err)
		}
		for _, flags := range []uint32{unix.O_RDONLY, unix.O_WRONLY} {
			if e := s.errno(&p9.Tlopen{Fid: f, Flags: flags}); e == 0 {
				t.Errorf("opened %s (flags %#x)", name, flags)
				s.errno(&p9.Tclunk{Fid: f})
				f = next()
				s.c.Walk(0, f, name)
			}
		}
	}
	if after := testenv.TreeState(t, outside); after != outsideBefore {
		t.Errorf("the folder outside the share changed:\n%s\nwas\n%s", after, outsideBefore)
	}
}

func (s *served) getattr(t *testing.T, fid uint32) uint64 {
	t.Helper()
	r, err := s.c.RPC(&p9.Tgetattr{Fid: fid, RequestMask: p9.GetattrBasic})
	a, ok := r.(*p9.Rgetattr)
	if err != nil || !ok {
		t.Fatalf("getattr: %#v, %v", r, err)
	}
	return a.Qid.Path
}

// A folder swapped for a symlink to outside while the guest walks through it, over and over: no walk ever
// reads outside the share.
func TestShareSymlinkSwapRace(t *testing.T) {
	share, outside := escapeLayout(t)
	write(t, filepath.Join(outside, "f"), []byte("OUTSIDE-SECRET"))
	if err := os.Symlink(outside, filepath.Join(share, "swap")); err != nil {
		t.Fatal(err)
	}
	s := serveShare(t, share, true)
	var stop atomic.Bool
	swapped := make(chan int)
	go func() {
		n := 0
		for !stop.Load() {
			// Atomically exchange the folder d and the symlink swap.
			if err := unix.Renameat2(unix.AT_FDCWD, filepath.Join(share, "d"), unix.AT_FDCWD, filepath.Join(share, "swap"), unix.RENAME_EXCHANGE); err == nil {
				n++
			}
		}
		swapped <- n
	}()
	deadline := time.Now().Add(2 * time.Second)
	reads := 0
	for fid := uint32(100); time.Now().Before(deadline); fid++ {
		if err := s.c.Walk(0, fid, "d", "f"); err != nil {
			continue
		}
		got, err := s.c.ReadAll(fid)
		s.errno(&p9.Tclunk{Fid: fid})
		if strings.Contains(string(got), "SECRET") {
			stop.Store(true)
			t.Fatalf("read %q from outside the share", got)
		}
		if err == nil {
			reads++
		}
	}
	stop.Store(true)
	n := <-swapped
	t.Logf("%d reads during %d swaps", reads, n)
	if n == 0 {
		t.Error("the swap never happened")
	}
}

func TestShareHostileMessages(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "f"), bytes.Repeat([]byte("0123456789"), 30000))
	s := serveShare(t, dir, true)
	if err := s.c.Walk(0, 1, "f"); err != nil {
		t.Fatal(err)
	}
	if e := s.errno(&p9.Tlopen{Fid: 1, Flags: unix.O_RDONLY}); e != 0 {
		t.Fatal(e)
	}
	// A huge count is cut to the message size.
	r, err := s.c.RPC(&p9.Tread{Fid: 1, Count: 0xFFFFFFFF})
	if rr, ok := r.(*p9.Rread); err != nil || !ok || len(rr.Data) == 0 || len(rr.Data) > nineptest.Msize {
		t.Errorf("Tread of 4 GiB: %T, %v", r, err)
	}
	for what, m := range map[string]p9.Msg{
		"unknown fid":          &p9.Tread{Fid: 4242, Count: 10},
		"NoFid":                &p9.Twalk{Fid: p9.NoFid, NewFid: 5},
		"new fid in use":       &p9.Twalk{Fid: 0, NewFid: 1, Names: []string{"f"}},
		"clunk unknown":        &p9.Tclunk{Fid: 77},
		"walk from open fid":   &p9.Twalk{Fid: 1, NewFid: 6},
		"readdir of a file":    &p9.Treaddir{Fid: 1, Count: 1 << 30},
		"huge offset":          &p9.Tread{Fid: 1, Offset: 1 << 63, Count: 10},
		"attach twice":         &p9.Tattach{Fid: 0, Afid: p9.NoFid},
		"auth":                 &p9.Tauth{Afid: 9},
		"a reply as a request": &p9.Rread{Data: []byte("x")},
	} {
		if e := s.errno(m); e == 0 {
			t.Errorf("%s: accepted", what)
		}
	}
	raw := map[string][]byte{
		"NUL in a name":      p9.Marshal(1, &p9.Twalk{Fid: 0, NewFid: 7, Names: []string{"a\x00b"}}),
		"size says more":     append(p9.Marshal(2, &p9.Tclunk{Fid: 1})[:4:4], append([]byte{p9.MsgTclunk, 2, 0}, 1, 0, 0, 0)...),
		"string runs off":    {13, 0, 0, 0, p9.MsgTwalk, 3, 0, 0, 0, 0, 0, 1, 0, 0},
		"too many names":     append(append([]byte{0, 0, 0, 0, p9.MsgTwalk, 4, 0, 0, 0, 0, 0, 8, 0, 0, 0}, 200, 0), bytes.Repeat([]byte{1, 0, 'a'}, 200)...),
		"count beyond body":  {15, 0, 0, 0, p9.MsgTwrite, 5, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f},
		"just a header":      {7, 0, 0, 0, p9.MsgTread, 6, 0},
		"size field of zero": {0, 0, 0, 0, p9.MsgTclunk, 7, 0, 1, 0, 0, 0},
	}
	for what, b := range raw {
		if len(b) >= 4 && b[0] == 0 && b[1] == 0 && what != "size field of zero" {
			b[0], b[1] = byte(len(b)), byte(len(b)>>8)
		}
		if what == "size says more" {
			b[0] = 200
		}
		ans, err := s.c.Exchange(b, 256)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if _, m, err := p9.Unmarshal(ans); err != nil {
			t.Errorf("%s: malformed answer % x", what, ans)
		} else if _, ok := m.(*p9.Rlerror); !ok {
			t.Errorf("%s: answered %#v", what, m)
		}
	}
	// The server is still there and still serving.
	select {
	case <-s.exited:
		t.Fatal("the share server exited")
	default:
	}
	if r, err := s.c.RPC(&p9.Tread{Fid: 1, Count: 10}); err != nil {
		t.Fatal(err)
	} else if rr, ok := r.(*p9.Rread); !ok || string(rr.Data) != "0123456789" {
		t.Errorf("read after hostile messages: %#v", r)
	}
}

func TestShareRevokeEndsTheServer(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "f"), []byte("x"))
	s := serveShare(t, dir, true)
	if err := s.c.Walk(0, 1, "f"); err != nil {
		t.Fatal(err)
	}
	s.dev.Revoke()
	start := time.Now()
	for i := range 10 {
		if e := s.errno(&p9.Tgetattr{Fid: 1, RequestMask: p9.GetattrBasic}); e != unix.EIO {
			t.Fatalf("request %d after revoke: errno %v, want EIO", i, e)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("10 requests after revoke took %v", d)
	}
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the share server still runs after revoke")
	}
}

func TestShareServerKilledGivesEIO(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "f"), []byte("x"))
	s := serveShare(t, dir, true)
	if err := s.proc.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.exited
	start := time.Now()
	if e := s.errno(&p9.Twalk{Fid: 0, NewFid: 1, Names: []string{"f"}}); e != unix.EIO {
		t.Errorf("request after the server died: errno %v, want EIO", e)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the request took %v", d)
	}
}

// From inside a running share server's jail, nothing outside the share opens, a read-only share cannot be
// changed, and no program runs.
func TestShareServerSandbox(t *testing.T) {
	share, outside := escapeLayout(t)
	for _, ro := range []bool{true, false} {
		args := []string{"share-server", "--root", share, "--probe", filepath.Join(outside, "secret")}
		if ro {
			args = append(args, "--ro")
		}
		out, err := exec.Command(leanVMM(t), args...).CombinedOutput()
		text := string(out)
		t.Logf("read-only %v:\n%s", ro, text)
		for _, want := range []string{"probe: open outside: refused", "probe: read share: allowed", "probe: exec: trying"} {
			if !strings.Contains(text, want) {
				t.Errorf("read-only %v: no %q", ro, want)
			}
		}
		if wantWrite := map[bool]string{true: "probe: write share: refused", false: "probe: write share: allowed"}[ro]; !strings.Contains(text, wantWrite) {
			t.Errorf("read-only %v: no %q", ro, wantWrite)
		}
		var ee *exec.ExitError
		killed := errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGSYS
		if !killed && !strings.Contains(text, "probe: exec: refused") {
			t.Errorf("read-only %v: exec was not refused (%v)", ro, err)
		}
	}
}

// `paddock run --share` puts one virtio-9p function on the guest's PCI bus.
func TestShareAppearsOnThePCIBus(t *testing.T) {
	dir := t.TempDir()
	r := runGuest(t, "pci", "--share", dir+":docs", "--share", dir+":more:rw")
	r.expectExit(t, 0)
	if got := pciFunctions(t, r)["1af4:1049"]; got != 2 {
		t.Errorf("%d virtio-9p functions, want 2\n%s", got, r.describe())
	}
}

// The control socket revokes a running VM's share: its server ends at once.
func TestShareRevokeOverControl(t *testing.T) {
	requireKVM(t)
	env := newEnv(t)
	name := vmName()
	s := start(t, env, "run", "--kernel", buildGuest(t, "echo"), "--serial", "stdio", "--name", name,
		"--share", t.TempDir()+":docs")
	s.waitFor("READY")
	runtimeDir := envValue(env, "XDG_RUNTIME_DIR")
	c, err := control.Dial(filepath.Join(runtimeDir, "paddock", name+".sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.RevokeShare("nope"); err == nil {
		t.Error("revoking an unknown share succeeded")
	}
	if err := c.RevokeShare("docs"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.stderr.String(), "the share ended") {
		if time.Now().After(deadline) {
			t.Fatalf("the share server did not end\n%s", s.describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
	paddock(t, env, "stop", "--force", name).expectExit(t, 0)
	s.wait()
}

// A library VM's process gets its shares' connections from vmm.Start, keeps them inside its sandbox, and
// revokes one over the control socket: the share server, started by the caller, then ends.
func TestShareInAVMMProcess(t *testing.T) {
	requireKVM(t)
	runtimeDir, err := os.MkdirTemp("", "pdk")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(runtimeDir)
	t.Setenv("XDG_RUNTIME_DIR", runtimeDir)
	dir := t.TempDir()
	conn, proc, err := shareserver.Spawn(leanVMM(t), shareserver.Share{HostDir: t.TempDir(), Tag: "docs", ReadOnly: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	go func() { proc.Wait(); close(ended) }()
	serial := filepath.Join(dir, "serial.log")
	spec := vmm.Spec{
		Name: vmName(), Kernel: buildGuest(t, "powerbutton"), Cmdline: "console=ttyS0", CPUs: 1, MemoryMiB: 64,
		SerialLog: serial, Shares: []vmm.ShareSpec{{Tag: "docs", HostDir: dir, ReadOnly: true}},
	}
	if _, err := vmm.Start(leanVMM(t), spec, filepath.Join(dir, "vmm.log")); err == nil {
		t.Fatal("Start took shares without their connections")
	}
	pid, err := vmm.Start(leanVMM(t), spec, filepath.Join(dir, "vmm.log"), conn)
	conn.Close() // the VMM has its own descriptor now
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if p, err := os.FindProcess(pid); err == nil {
			p.Kill()
		}
	}()
	waitFile(t, serial, "WAITING")
	select {
	case <-ended:
		t.Fatal("the share server ended while its VM runs")
	default:
	}
	c, err := control.Dial(control.SocketPath(spec.Name))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.RevokeShare("docs"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the share server still runs after its share was revoked")
	}
	if err := c.Call(control.OpPowerOff, nil, nil); err != nil {
		t.Fatal(err)
	}
}

// A library VM with a folder share: `paddock start` starts its share server beside the VMM, and the guest finds
// the share's virtio-9p function on its PCI bus; without the share, it finds none.
func TestLibraryVMGetsItsShares(t *testing.T) {
	requireKVM(t)
	env := newEnv(t)
	home := envValue(env, "PADDOCK_HOME")
	paddock(t, env, "create", "shared", "--kernel", buildGuest(t, "pci"), "--memory", "64", "--cpus", "1", "--disk-size", "0").expectExit(t, 0)
	for _, c := range []struct {
		share bool
		want  int
	}{{false, 0}, {true, 1}} {
		if c.share {
			paddock(t, env, "share", "add", "shared", t.TempDir(), "--tag", "docs").expectExit(t, 0)
		}
		paddock(t, env, "start", "shared", "--headless").expectExit(t, 0)
		logs, _ := filepath.Glob(filepath.Join(home, "vms", "*", "serial.log"))
		if len(logs) != 1 {
			t.Fatalf("serial logs %v", logs)
		}
		waitFile(t, logs[0], "PCI-DONE")
		raw, _ := os.ReadFile(logs[0])
		out := string(raw)
		os.Remove(logs[0])
		if got := pciFunctions(t, result{stdout: out})["1af4:1049"]; got != c.want {
			t.Errorf("with share %v: %d virtio-9p functions, want %d\n%s", c.share, got, c.want, out)
		}
		waitStopped(t, env, "shared")
	}
}

// waitStopped waits until `paddock list` no longer shows the VM running.
func waitStopped(t *testing.T, env []string, name string) {
	t.Helper()
	deadline := time.Now().Add(runTimeout())
	for {
		r := paddock(t, env, "status", name)
		if r.code != 0 || !strings.Contains(r.stdout, "running") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still runs\n%s", name, r.describe())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Removing a share from a running library VM revokes it at once: its share server ends.
func TestRemovingAShareRevokesItInTheRunningVM(t *testing.T) {
	requireKVM(t)
	env := newEnv(t)
	home := envValue(env, "PADDOCK_HOME")
	paddock(t, env, "create", "live", "--kernel", buildGuest(t, "echo"), "--memory", "64", "--cpus", "1", "--disk-size", "0").expectExit(t, 0)
	paddock(t, env, "share", "add", "live", t.TempDir(), "--tag", "docs").expectExit(t, 0)
	paddock(t, env, "start", "live", "--headless").expectExit(t, 0)
	defer paddock(t, env, "stop", "--force", "live")
	logs, _ := filepath.Glob(filepath.Join(home, "vms", "*", "serial.log"))
	if len(logs) != 1 {
		t.Fatalf("serial logs %v", logs)
	}
	waitFile(t, logs[0], "READY")
	shareLog := filepath.Join(filepath.Dir(logs[0]), "shares.log")
	if raw, _ := os.ReadFile(shareLog); strings.Contains(string(raw), "the share ended") {
		t.Fatalf("the share ended before it was removed:\n%s", raw)
	}
	paddock(t, env, "share", "remove", "live", "docs").expectExit(t, 0)
	waitFile(t, shareLog, "the share ended")
}

// Shares added to a running library VM get their servers at once and are offered from the guest's next boot;
// `paddock status` lists them, and one removed shows as revoked.
func TestAddingSharesToARunningVM(t *testing.T) {
	requireKVM(t)
	env := newEnv(t)
	paddock(t, env, "create", "grow", "--kernel", buildGuest(t, "echo"), "--memory", "64", "--cpus", "1", "--disk-size", "0").expectExit(t, 0)
	paddock(t, env, "start", "grow", "--headless").expectExit(t, 0)
	defer paddock(t, env, "stop", "--force", "grow")
	if got := statusLine(t, env, "grow", "shares"); got != "" {
		t.Fatalf("a VM started without shares lists %q", got)
	}
	r := paddock(t, env, "share", "add", "grow", t.TempDir(), "--tag", "docs")
	r.expectExit(t, 0)
	if !strings.Contains(r.stdout, "next boot") {
		t.Errorf("share add on a running VM says %q; want when the guest finds it", r.stdout)
	}
	paddock(t, env, "share", "add", "grow", t.TempDir(), "--tag", "work", "--rw").expectExit(t, 0)
	if got := statusLine(t, env, "grow", "shares"); got != "docs (read-only), work (read-write)" {
		t.Errorf("status lists shares %q", got)
	}
	paddock(t, env, "share", "remove", "grow", "docs").expectExit(t, 0)
	if got := statusLine(t, env, "grow", "shares"); got != "docs (read-only, revoked), work (read-write)" {
		t.Errorf("after removing docs, status lists %q", got)
	}
}
