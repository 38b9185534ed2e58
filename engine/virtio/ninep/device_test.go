package ninep_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"paddock/engine/virtio"
	"paddock/engine/virtio/ninep"
	"paddock/engine/virtio/ninep/nineptest"
	"paddock/engine/virtio/virtiotest"
	"paddock/sharing/p9"
	"paddock/sharing/shareserver"
)

// socketPair is a connected unix stream pair: the VMM's end and the server's.
func socketPair(t testing.TB) (vmm, server *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fds[0]), "vmm-end"), os.NewFile(uintptr(fds[1]), "server-end")
}

// share serves root in this process over a socket pair and returns the VMM's connection, and a channel that
// reports when the server stopped.
func share(t testing.TB, root string, readOnly bool) (*ninep.Conn, chan error) {
	t.Helper()
	vmmEnd, srvEnd := socketPair(t)
	stopped := make(chan error, 1)
	go func() {
		stopped <- shareserver.Serve(context.Background(), srvEnd, root, readOnly, nil)
		srvEnd.Close()
	}()
	conn := ninep.NewConn(vmmEnd, nil)
	vmmEnd.Close()
	t.Cleanup(func() { conn.Close() })
	return conn, stopped
}

func attach(t testing.TB, tag string, conn *ninep.Conn) *nineptest.Client {
	t.Helper()
	dev, err := ninep.New(tag, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := nineptest.Attach(dev)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = 5 * time.Second
	t.Cleanup(func() { c.Close() })
	return c
}

func TestIdentityAndMountTag(t *testing.T) {
	conn, _ := share(t, t.TempDir(), true)
	c := attach(t, "hostdocs", conn)
	if c.Driver.VendorID != 0x1af4 || c.Driver.DeviceID != 0x1040+ninep.Type {
		t.Errorf("PCI ID %04x:%04x, want virtio 9P 1af4:1049", c.Driver.VendorID, c.Driver.DeviceID)
	}
	if c.Driver.DeviceFeatures()&ninep.FeatureMountTag == 0 {
		t.Error("VIRTIO_9P_MOUNT_TAG not offered")
	}
	if got := c.MountTag(); got != "hostdocs" {
		t.Errorf("mount tag %q", got)
	}
	for _, bad := range []string{"", "has space", "a,b", string(make([]byte, 65)), "tab\t"} {
		if _, err := ninep.New(bad, conn, nil); err == nil {
			t.Errorf("tag %q accepted", bad)
		}
	}
}

func TestReadsAFileByteForByte(t *testing.T) {
	root := t.TempDir()
	want := make([]byte, 300<<10+17)
	for i := range want {
		want[i] = byte(rand.Uint32())
	}
	if err := os.MkdirAll(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "sub", "data.bin"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	conn, _ := share(t, root, true)
	c := attach(t, "t", conn)
	if err := c.Mount(0); err != nil {
		t.Fatal(err)
	}
	if err := c.Walk(0, 1, "sub", "data.bin"); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadAll(1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, not the file's %d", len(got), len(want))
	}
}

func TestPipelinedRequestsKeepTheirTags(t *testing.T) {
	root := t.TempDir()
	for _, n := range []string{"a", "b", "c"} {
		os.WriteFile(filepath.Join(root, n), []byte(n), 0o644)
	}
	conn, _ := share(t, root, true)
	c := attach(t, "t", conn)
	if err := c.Mount(0); err != nil {
		t.Fatal(err)
	}
	var msgs []p9.Msg
	for i := range nineptest.Slots {
		name := []string{"a", "b", "c", "missing"}[i%4]
		msgs = append(msgs, &p9.Twalk{Fid: 0, NewFid: uint32(10 + i), Names: []string{name}})
	}
	answers, err := c.Pipeline(msgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range answers {
		e := nineptest.Errno(a, nil)
		if missing := i%4 == 3; missing != (e == unix.ENOENT) || !missing && e != 0 {
			t.Errorf("walk %d answered %#v", i, a)
		}
	}
}

// rawRequest builds a request whose size field says size, whatever its real length.
func rawRequest(size uint32, typ uint8, tag uint16, body []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, size)
	b = append(b, typ)
	b = binary.LittleEndian.AppendUint16(b, tag)
	return append(b, body...)
}

func lerrno(t *testing.T, raw []byte, tag uint16) unix.Errno {
	t.Helper()
	got, m, err := p9.Unmarshal(raw)
	if err != nil {
		t.Fatalf("answer % x: %v", raw, err)
	}
	e, ok := m.(*p9.Rlerror)
	if !ok {
		t.Fatalf("answer %#v, want Rlerror", m)
	}
	if got != tag {
		t.Errorf("Rlerror tagged %d, want %d", got, tag)
	}
	return unix.Errno(e.Ecode)
}

func TestMalformedRequestsGetErrorsAndTheShareCarriesOn(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "f"), bytes.Repeat([]byte("x"), 8192), 0o644)
	conn, stopped := share(t, root, true)
	c := attach(t, "t", conn)
	const msize = 8192
	if r, err := c.RPC(&p9.Tversion{Msize: msize, Version: p9.Version}); err != nil || r.(*p9.Rversion).Msize != msize {
		t.Fatalf("Tversion: %#v, %v", r, err)
	}
	if e := nineptest.Errno(c.RPC(&p9.Tattach{Fid: 0, Afid: p9.NoFid})); e != 0 {
		t.Fatal(e)
	}
	clunk := binary.LittleEndian.AppendUint32(nil, 0)
	cases := []struct {
		name string
		raw  []byte
		tag  uint16
		want unix.Errno
	}{
		{"size beyond the chain", rawRequest(1000, p9.MsgTclunk, 7, clunk), 7, unix.EINVAL},
		{"size below a header", rawRequest(3, p9.MsgTclunk, 8, clunk), 8, unix.EINVAL},
		{"size beyond any msize", rawRequest(ninep.MaxMsize+1, p9.MsgTclunk, 9, clunk), 9, unix.EINVAL},
		{"size beyond the negotiated msize", p9.Marshal(10, &p9.Twrite{Fid: 0, Data: make([]byte, msize)}), 10, unix.EINVAL},
		{"shorter than a header", []byte{1, 2, 3}, p9.NoTag, unix.EINVAL},
		{"unknown type", rawRequest(11, 250, 11, clunk), 11, unix.EOPNOTSUPP},
		{"truncated body", rawRequest(9, p9.MsgTclunk, 12, clunk[:2]), 12, unix.EINVAL},
		{"malformed string", rawRequest(7+4+4+2+2, p9.MsgTwalk, 13, []byte{0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 2, 0}), 13, unix.EINVAL},
		{"bad fid", rawRequest(11, p9.MsgTclunk, 14, []byte{9, 9, 9, 9}), 14, unix.EBADF},
	}
	for _, tc := range cases {
		ans, err := c.Exchange(tc.raw, 64)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if e := lerrno(t, ans, tc.tag); e != tc.want {
			t.Errorf("%s: errno %v, want %v", tc.name, e, tc.want)
		}
	}
	// No room for any answer: the chain comes back empty.
	if ans, err := c.Exchange(rawRequest(11, p9.MsgTclunk, 15, clunk), 4); err != nil || len(ans) != 0 {
		t.Errorf("chain without room: %d bytes, %v", len(ans), err)
	}
	// No readable part at all.
	if ans, err := c.Exchange(nil, 64); err != nil || lerrno(t, ans, p9.NoTag) != unix.EINVAL {
		t.Errorf("chain without a request: % x, %v", ans, err)
	}
	// An answer larger than the room offered.
	if err := c.Walk(0, 1, "f"); err != nil {
		t.Fatal(err)
	}
	if e := nineptest.Errno(c.RPC(&p9.Tlopen{Fid: 1})); e != 0 {
		t.Fatal(e)
	}
	read := p9.Marshal(16, &p9.Tread{Fid: 1, Count: 4096})
	if ans, err := c.Exchange(read, 100); err != nil || lerrno(t, ans, 16) != unix.EIO {
		t.Errorf("answer too large for its room: % x, %v", ans, err)
	}
	// The share still works, and its server is still up.
	r, err := c.RPC(&p9.Tread{Fid: 1, Count: 4096})
	if rr, ok := r.(*p9.Rread); err != nil || !ok || len(rr.Data) != 4096 {
		t.Errorf("read after hostile requests: %#v, %v", r, err)
	}
	select {
	case err := <-stopped:
		t.Fatalf("server stopped: %v", err)
	default:
	}
}

func TestRevokeFailsEveryLaterRequestAtOnce(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "f"), []byte("secret"), 0o644)
	conn, stopped := share(t, root, true)
	dev, err := ninep.New("t", conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := nineptest.Attach(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mount(0); err != nil {
		t.Fatal(err)
	}
	dev.Revoke()
	start := time.Now()
	for i := range 5 {
		if e := nineptest.Errno(c.RPC(&p9.Twalk{Fid: 0, NewFid: uint32(1 + i), Names: []string{"f"}})); e != unix.EIO {
			t.Fatalf("request after revoke: errno %v, want EIO", e)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("failing 5 requests took %v", d)
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not see the share end")
	}
}

// fakeServer is a share server the test drives by hand: it hands each request it reads to the test.
type fakeServer struct {
	f    *os.File
	reqs chan []byte
}

func newFake(t *testing.T) (*ninep.Conn, *fakeServer) {
	vmmEnd, srvEnd := socketPair(t)
	conn := ninep.NewConn(vmmEnd, nil)
	vmmEnd.Close()
	t.Cleanup(func() { conn.Close() })
	s := &fakeServer{f: srvEnd, reqs: make(chan []byte, 64)}
	t.Cleanup(func() { srvEnd.Close() })
	go func() {
		defer close(s.reqs)
		for {
			_, m, err := p9.ReadMsg(srvEnd, ninep.MaxMsize)
			if err != nil {
				return
			}
			_ = m
			s.reqs <- p9.Marshal(0, m)
		}
	}()
	return conn, s
}

// die ends the server's end of the socket as its process's death would (a blocked read of its own keeps a plain
// close from taking effect).
func (s *fakeServer) die() {
	if rc, err := s.f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.Shutdown(int(fd), unix.SHUT_RDWR) })
	}
	s.f.Close()
}

func (s *fakeServer) next(t *testing.T) []byte {
	t.Helper()
	select {
	case r := <-s.reqs:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no request reached the server")
	}
	return nil
}

func TestKilledServerGivesEIONotAHang(t *testing.T) {
	conn, srv := newFake(t)
	c := attach(t, "t", conn)
	// One request in flight when the server dies, and one after.
	done := make(chan unix.Errno, 1)
	go func() { done <- nineptest.Errno(c.RPC(&p9.Tversion{Msize: 8192, Version: p9.Version})) }()
	srv.next(t)
	srv.die()
	select {
	case e := <-done:
		if e != unix.EIO {
			t.Errorf("request in flight: errno %v, want EIO", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("request in flight when the server died hangs")
	}
	if e := nineptest.Errno(c.RPC(&p9.Tclunk{Fid: 1})); e != unix.EIO {
		t.Errorf("request after the server died: errno %v, want EIO", e)
	}
	if err := conn.Err(); err == nil {
		t.Error("connection still up")
	}
}

func TestLyingServerEndsTheShare(t *testing.T) {
	conn, srv := newFake(t)
	c := attach(t, "t", conn)
	done := make(chan unix.Errno, 1)
	go func() { done <- nineptest.Errno(c.RPC(&p9.Tclunk{Fid: 1})) }()
	srv.next(t)
	srv.f.Write(binary.LittleEndian.AppendUint32(nil, 0xFFFFFFF0))
	select {
	case e := <-done:
		if e != unix.EIO {
			t.Errorf("errno %v, want EIO", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("hang")
	}
}

// A server that does not answer holds up neither a vCPU's notify nor the driver's reset; its late answers to the
// reset driver's requests never reach guest memory, and the next requests get their own answers.
func TestStuckServerBlocksNoVCPUAndLateAnswersAreDropped(t *testing.T) {
	conn, srv := newFake(t)
	c := attach(t, "t", conn)
	slot, _ := c.M.Alloc(4096, 4096)
	for i := range 3 {
		req := p9.Marshal(uint16(100+i), &p9.Tclunk{Fid: uint32(i)})
		copy(c.M.RAM[slot+uint64(64*i):], req)
		resp, _ := c.M.Alloc(64, 64)
		for j := range 64 {
			c.M.RAM[resp+uint64(j)] = 0xEE
		}
		if _, err := c.Q.Add([]virtiotest.Buf{{Addr: slot + uint64(64*i), Len: uint32(len(req))}, {Addr: resp, Len: 64, Write: true}}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	c.Q.Kick()
	for range 3 {
		srv.next(t)
	}
	if err := c.Driver.Reset(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("kick and reset with a stuck server took %v", d)
	}
	ramBefore := bytes.Clone(c.M.RAM)
	// The server wakes up and answers the old requests.
	for i := range 3 {
		srv.f.Write(p9.Marshal(uint16(100+i), &p9.Rclunk{}))
	}
	time.Sleep(100 * time.Millisecond)
	if !bytes.Equal(ramBefore, c.M.RAM) {
		t.Error("answers to a reset driver's requests were written into guest memory")
	}
	// A new driver: its request gets its own answer, not a stale one.
	if err := c.Driver.Setup(virtio.FeatureVersion1|ninep.FeatureMountTag, 1); err != nil {
		t.Fatal(err)
	}
	c.Q = c.Driver.Queues[0]
	go func() {
		srv.next(t)
		srv.f.Write(p9.Marshal(1, &p9.Rlerror{Ecode: uint32(unix.ENOTTY)}))
	}()
	if e := nineptest.Errno(c.RPC(&p9.Tclunk{Fid: 5})); e != unix.ENOTTY {
		t.Errorf("new request answered with errno %v, want the server's ENOTTY", e)
	}
}
