package shareserver

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"paddock/sharing/p9"
	"paddock/tests/testenv"
)

func TestReadOnlyShareReadsAndRefusesEveryChange(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "a.txt"), "hello")
	mustWrite(t, filepath.Join(root, "sub", "b.txt"), "world")
	before := testenv.TreeState(t, root)
	c := serve(t, root, true)

	if got, e := c.readFile(1, "sub", "b.txt"); e != 0 || got != "world" {
		t.Fatalf("read sub/b.txt = %q, %v", got, e)
	}
	if got := c.listDir(1); !reflect.DeepEqual(got, []string{"a.txt", "sub"}) {
		t.Fatalf("readdir = %v", got)
	}

	if _, e := c.walk(2, "a.txt"); e != 0 {
		t.Fatal(e)
	}
	if _, e := c.walk(3, "sub"); e != 0 {
		t.Fatal(e)
	}
	refused := map[string]p9.Msg{
		"open for write":  &p9.Tlopen{Fid: 2, Flags: unix.O_WRONLY},
		"open read-write": &p9.Tlopen{Fid: 2, Flags: unix.O_RDWR},
		"open truncating": &p9.Tlopen{Fid: 2, Flags: unix.O_RDONLY | unix.O_TRUNC},
		"create":          &p9.Tlcreate{Fid: 3, Name: "new", Flags: unix.O_RDWR, Mode: 0o644},
		"mkdir":           &p9.Tmkdir{Dfid: rootFid, Name: "d", Mode: 0o755},
		"unlink":          &p9.Tunlinkat{DirFid: rootFid, Name: "a.txt"},
		"rmdir":           &p9.Tunlinkat{DirFid: rootFid, Name: "sub", Flags: unix.AT_REMOVEDIR},
		"rename":          &p9.Trenameat{OldDirFid: rootFid, OldName: "a.txt", NewDirFid: 3, NewName: "a.txt"},
		"chmod":           &p9.Tsetattr{Fid: 2, Valid: p9.SetattrMode, Mode: 0o777},
		"truncate":        &p9.Tsetattr{Fid: 2, Valid: p9.SetattrSize, Size: 0},
		"touch":           &p9.Tsetattr{Fid: 2, Valid: p9.SetattrMtime | p9.SetattrAtime},
		"xattr set":       &p9.Txattrcreate{Fid: 2, Name: "user.x", AttrSize: 1},
		"symlink":         &p9.Tsymlink{Fid: rootFid, Name: "l", Target: "a.txt"},
		"hard link":       &p9.Tlink{Dfid: rootFid, Fid: 2, Name: "l"},
		"mknod":           &p9.Tmknod{Dfid: rootFid, Name: "n", Mode: unix.S_IFIFO | 0o644},
		"rename (9P2000)": &p9.Trename{Fid: 2, Dfid: 3, Name: "x"},
	}
	for name, m := range refused {
		if e := c.fail(m); e != unix.EROFS {
			t.Errorf("%s: errno %v, want EROFS", name, e)
		}
	}
	// Opened for reading, a write is still refused.
	if e := c.fail(&p9.Tlopen{Fid: 2, Flags: unix.O_RDONLY}); e != 0 {
		t.Fatal(e)
	}
	if e := c.fail(&p9.Twrite{Fid: 2, Data: []byte("x")}); e != unix.EROFS {
		t.Errorf("write: %v, want EROFS", e)
	}
	if after := testenv.TreeState(t, root); after != before {
		t.Errorf("read-only share changed:\n%s\nwas\n%s", after, before)
	}
}

func TestReadWriteShare(t *testing.T) {
	root := t.TempDir()
	c := serve(t, root, false)
	if _, e := c.walk(1); e != 0 {
		t.Fatal(e)
	}
	if _, ok := c.rpc(&p9.Tlcreate{Fid: 1, Name: "f", Flags: unix.O_RDWR, Mode: 0o4755}).(*p9.Rlcreate); !ok {
		t.Fatal("create failed")
	}
	if r, ok := c.rpc(&p9.Twrite{Fid: 1, Data: []byte("data")}).(*p9.Rwrite); !ok || r.Count != 4 {
		t.Fatalf("write: %+v", r)
	}
	if e := c.fail(&p9.Tmkdir{Dfid: rootFid, Name: "d", Mode: 0o2777}); e != 0 {
		t.Fatal(e)
	}
	if _, e := c.walk(2, "d"); e != 0 {
		t.Fatal(e)
	}
	if e := c.fail(&p9.Trenameat{OldDirFid: rootFid, OldName: "f", NewDirFid: 2, NewName: "g"}); e != 0 {
		t.Fatal(e)
	}
	if got, e := c.readFile(3, "d", "g"); e != 0 || got != "data" {
		t.Fatalf("read back %q %v", got, e)
	}
	if _, e := c.walk(4, "d", "g"); e != 0 {
		t.Fatal(e)
	}
	if e := c.fail(&p9.Tsetattr{Fid: 4, Valid: p9.SetattrMode | p9.SetattrSize, Mode: 0o6755, Size: 2}); e != 0 {
		t.Fatal(e)
	}
	st, err := os.Stat(filepath.Join(root, "d", "g"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 || st.Size() != 2 {
		t.Errorf("after setattr: mode %v size %d; want no setuid/setgid, size 2", st.Mode(), st.Size())
	}
	if e := c.fail(&p9.Tunlinkat{DirFid: 2, Name: "g"}); e != 0 {
		t.Fatal(e)
	}
	if _, err := os.Lstat(filepath.Join(root, "d", "g")); !os.IsNotExist(err) {
		t.Errorf("unlink left the file: %v", err)
	}
}

// escapeLayout makes base/outside/secret.txt and a share base/share holding links that point at it.
func escapeLayout(t *testing.T) (share, outside string) {
	base := t.TempDir()
	share, outside = filepath.Join(base, "share"), filepath.Join(base, "outside")
	mustWrite(t, filepath.Join(outside, "secret.txt"), "SECRET")
	mustWrite(t, filepath.Join(share, "sub", "ok.txt"), "ok")
	for name, target := range map[string]string{
		"abs":     filepath.Join(outside, "secret.txt"),
		"rel":     "../outside/secret.txt",
		"dirlink": "../outside",
		"absdir":  outside,
	} {
		if err := os.Symlink(target, filepath.Join(share, name)); err != nil {
			t.Fatal(err)
		}
	}
	return share, outside
}

func TestEscapesAreRefused(t *testing.T) {
	share, outside := escapeLayout(t)
	secret, err := os.Open(filepath.Join(outside, "secret.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer secret.Close()
	if err := os.Symlink("/proc/self/fd/"+strconv.Itoa(int(secret.Fd())), filepath.Join(share, "procfd")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/proc/self/root"+outside, filepath.Join(share, "procroot")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(share, "fifo"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(share, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	outsideBefore := testenv.TreeState(t, filepath.Dir(outside)+"/outside")
	c := serve(t, share, false)

	rootQid, _ := c.walk(9)
	c.clunk(9)
	// ".." at the root is the root; no number of them leaves it.
	qids, e := c.walk(1, "..", "..", "..")
	if e != 0 || len(qids) != 3 {
		t.Fatalf("walk ..: %v %v", qids, e)
	}
	for _, q := range qids {
		if q.Path != qids[0].Path {
			t.Errorf(".. from the root went to %+v", q)
		}
	}
	c.clunk(1)
	qids, e = c.walk(1, "sub", "..", "..")
	if e != 0 || qids[2].Path != qids[1].Path {
		t.Errorf("sub/../..: %v %v", qids, e)
	}
	c.clunk(1)
	_ = rootQid

	for _, path := range [][]string{
		{"..", "outside", "secret.txt"},
		{"sub", "..", "..", "outside", "secret.txt"},
		{"abs"}, {"rel"}, {"dirlink", "secret.txt"}, {"absdir", "secret.txt"},
		{"procfd"}, {"procroot", "secret.txt"},
		{"fifo"}, {"null"},
	} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			got, e := c.readFile(2, path...)
			if e == 0 || strings.Contains(got, "SECRET") {
				t.Errorf("reading %v: %q, %v; want refused", path, got, e)
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("reading %v hung", path)
		}
	}

	// A symlink made through the share is stored, never followed.
	if e := c.fail(&p9.Tsymlink{Fid: rootFid, Name: "made", Target: outside}); e != 0 {
		t.Fatalf("symlink: %v", e)
	}
	if got, e := c.readFile(3, "made", "secret.txt"); e == 0 {
		t.Errorf("walked through a guest-made symlink: %q", got)
	}
	if _, e := c.walk(3, "made"); e != 0 {
		t.Fatal(e)
	}
	if r, ok := c.rpc(&p9.Treadlink{Fid: 3}).(*p9.Rreadlink); !ok || r.Target != outside {
		t.Errorf("readlink: %+v", r)
	}
	if e := c.fail(&p9.Tlopen{Fid: 3, Flags: unix.O_RDONLY}); e == 0 {
		t.Error("opened a symlink")
	}
	// Hard links are refused, even to files inside.
	if _, e := c.walk(4, "sub", "ok.txt"); e != 0 {
		t.Fatal(e)
	}
	if e := c.fail(&p9.Tlink{Dfid: rootFid, Fid: 4, Name: "hard"}); e != unix.EPERM {
		t.Errorf("link: %v, want EPERM", e)
	}
	// Rename and create take one name: a path in them is refused.
	for _, m := range []p9.Msg{
		&p9.Trenameat{OldDirFid: rootFid, OldName: "sub", NewDirFid: rootFid, NewName: "../outside/moved"},
		&p9.Trenameat{OldDirFid: rootFid, OldName: "sub", NewDirFid: rootFid, NewName: ".."},
		&p9.Tmkdir{Dfid: rootFid, Name: "../x"},
		&p9.Tunlinkat{DirFid: rootFid, Name: "../outside/secret.txt"},
	} {
		if e := c.fail(m); e != unix.EINVAL {
			t.Errorf("%T %+v: %v, want EINVAL", m, m, e)
		}
	}
	// Creating through a symlinked directory, or over a symlink, is refused.
	if _, e := c.walk(5, "dirlink"); e != 0 {
		t.Fatal(e)
	}
	if e := c.fail(&p9.Tlcreate{Fid: 5, Name: "planted", Flags: unix.O_RDWR, Mode: 0o644}); e == 0 {
		t.Error("created inside a symlinked directory")
	}
	if e := c.fail(&p9.Tlcreate{Fid: rootFid, Name: "abs", Flags: unix.O_RDWR, Mode: 0o644}); e == 0 {
		t.Error("created through a symlink")
	}
	if e := c.fail(&p9.Tmknod{Dfid: rootFid, Name: "dev", Mode: unix.S_IFCHR | 0o666, Major: 1, Minor: 3}); e != unix.EPERM {
		t.Errorf("mknod: %v", e)
	}
	if after := testenv.TreeState(t, outside); after != outsideBefore {
		t.Errorf("outside changed:\n%s", after)
	}
}

// A directory swapped for a symlink to the outside while the guest walks through it never yields outside data.
func TestSwapRace(t *testing.T) {
	share, outside := escapeLayout(t)
	mustWrite(t, filepath.Join(share, "d", "secret.txt"), "inside")
	c := serve(t, share, true)
	stop := make(chan struct{})
	swapped := make(chan int)
	go func() {
		n := 0
		d, saved := filepath.Join(share, "d"), filepath.Join(share, "d.saved")
		for {
			select {
			case <-stop:
				swapped <- n
				return
			default:
			}
			os.Rename(d, saved)
			os.Symlink(outside, d)
			os.Remove(d)
			os.Rename(saved, d)
			n++
		}
	}()
	inside := 0
	deadline := time.Now().Add(time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		got, e := c.readFile(uint32(10+i%2), "d", "secret.txt")
		if strings.Contains(got, "SECRET") {
			t.Fatalf("read outside data through a swapped directory")
		}
		if e == 0 {
			inside++
		}
	}
	close(stop)
	if n := <-swapped; n == 0 || inside == 0 {
		t.Fatalf("race did not run: %d swaps, %d reads inside", n, inside)
	}
}

func TestHostileMessages(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "f"), "content")
	c := serve(t, root, false)
	want := func(name string, m p9.Msg, e unix.Errno) {
		t.Helper()
		r, ok := m.(*p9.Rlerror)
		if !ok || unix.Errno(r.Ecode) != e {
			t.Errorf("%s: %+v, want Rlerror %v", name, m, e)
		}
	}
	want("read bad fid", c.rpc(&p9.Tread{Fid: 999, Count: 10}), unix.EBADF)
	want("walk bad fid", c.rpc(&p9.Twalk{Fid: 999, NewFid: 5}), unix.EBADF)
	want("clunk bad fid", c.rpc(&p9.Tclunk{Fid: 12345}), unix.EBADF)
	want("attach to used fid", c.rpc(&p9.Tattach{Fid: rootFid, Afid: p9.NoFid}), unix.EBADF)
	want("walk to NOFID", c.rpc(&p9.Twalk{Fid: rootFid, NewFid: p9.NoFid}), unix.EINVAL)
	want("getattr unopened", c.rpc(&p9.Tread{Fid: rootFid, Count: 1}), unix.EBADF)
	want("walk slash", c.raw(p9.Marshal(7, &p9.Twalk{Fid: rootFid, NewFid: 1, Names: []string{"a/b"}})), unix.EINVAL)
	want("walk 17 names", c.raw(p9.Marshal(7, &p9.Twalk{Fid: rootFid, NewFid: 1, Names: make([]string, 17)})), unix.EINVAL)
	want("unknown type", c.raw([]byte{7, 0, 0, 0, 200, 1, 0}), unix.EOPNOTSUPP)

	short := p9.Marshal(7, &p9.Tread{Fid: rootFid, Count: 1})
	short = short[:len(short)-2]
	binary.LittleEndian.PutUint32(short, uint32(len(short)))
	want("short message", c.raw(short), unix.EINVAL)

	str := p9.Marshal(7, &p9.Tmkdir{Dfid: rootFid, Name: "abc"})
	binary.LittleEndian.PutUint16(str[p9.HeaderSize+4:], 0xffff) // a string longer than the message
	want("string overrun", c.raw(str), unix.EINVAL)

	// A huge read count is cut to the negotiated size.
	if _, e := c.walk(1, "f"); e != 0 {
		t.Fatal(e)
	}
	c.rpc(&p9.Tlopen{Fid: 1, Flags: unix.O_RDONLY})
	if r, ok := c.rpc(&p9.Tread{Fid: 1, Count: 0xffffffff}).(*p9.Rread); !ok || string(r.Data) != "content" {
		t.Errorf("huge read: %+v", r)
	}
	want("read past 2^63", c.rpc(&p9.Tread{Fid: 1, Offset: 1 << 63, Count: 1}), unix.EINVAL)
	want("readdir huge offset", c.rpc(&p9.Treaddir{Fid: 1, Offset: 1 << 62, Count: 1 << 30}), unix.EBADF)

	// The server still answers after all that.
	if got, e := c.readFile(2, "f"); e != 0 || got != "content" {
		t.Fatalf("after hostile messages: %q %v", got, e)
	}
	// A size beyond msize ends the session without a panic.
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	c.conn.Write([]byte{0xff, 0xff, 0xff, 0x7f})
	select {
	case err := <-c.done:
		if err == nil {
			t.Error("oversized message: server ended without an error")
		}
		c.done <- err
	case <-time.After(5 * time.Second):
		t.Error("server did not stop after an oversized message")
	}
}

func TestFidTableIsBounded(t *testing.T) {
	c := serve(t, t.TempDir(), true)
	var e unix.Errno
	for i := uint32(1); i <= maxFids+1 && e == 0; i++ {
		_, e = c.walk(i)
	}
	if e != unix.EMFILE {
		t.Errorf("after %d fids: %v, want EMFILE", maxFids, e)
	}
}
