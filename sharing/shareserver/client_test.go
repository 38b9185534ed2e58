package shareserver

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"paddock/sharing/p9"
)

// client is a minimal 9P client for tests: one request at a time over a pipe.
type client struct {
	t    *testing.T
	conn net.Conn
	tag  uint16
	done chan error
}

const rootFid = 0

func serve(t *testing.T, root string, readOnly bool) *client {
	t.Helper()
	srv, cli := net.Pipe()
	c := &client{t: t, conn: cli, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { c.done <- Serve(ctx, srv, root, readOnly, nil) }()
	t.Cleanup(func() {
		cancel()
		cli.Close()
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			t.Error("server did not stop")
		}
	})
	r := c.rpc(&p9.Tversion{Msize: 64 << 10, Version: p9.Version})
	if v, ok := r.(*p9.Rversion); !ok || v.Version != p9.Version {
		t.Fatalf("Tversion: %+v", r)
	}
	if _, ok := c.rpc(&p9.Tattach{Fid: rootFid, Afid: p9.NoFid, Uname: "u"}).(*p9.Rattach); !ok {
		t.Fatal("Tattach failed")
	}
	return c
}

func (c *client) raw(b []byte) p9.Msg {
	c.t.Helper()
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
	_, m, err := p9.ReadMsg(c.conn, 1<<20)
	if err != nil {
		c.t.Fatalf("read reply: %v", err)
	}
	return m
}

func (c *client) rpc(m p9.Msg) p9.Msg {
	c.t.Helper()
	c.tag++
	return c.raw(p9.Marshal(c.tag, m))
}

// fail sends m and returns the errno it fails with (0 if it did not fail).
func (c *client) fail(m p9.Msg) unix.Errno {
	c.t.Helper()
	if e, ok := c.rpc(m).(*p9.Rlerror); ok {
		return unix.Errno(e.Ecode)
	}
	return 0
}

// walk walks from the root to a new fid and reports the qids and whether the fid exists.
func (c *client) walk(newFid uint32, names ...string) ([]p9.Qid, unix.Errno) {
	c.t.Helper()
	switch r := c.rpc(&p9.Twalk{Fid: rootFid, NewFid: newFid, Names: names}).(type) {
	case *p9.Rwalk:
		if len(r.Qids) < len(names) {
			return r.Qids, unix.ENOENT
		}
		return r.Qids, 0
	case *p9.Rlerror:
		return nil, unix.Errno(r.Ecode)
	default:
		c.t.Fatalf("walk: %T", r)
	}
	return nil, 0
}

func (c *client) clunk(fid uint32) { c.rpc(&p9.Tclunk{Fid: fid}) }

// readFile walks to names, opens and reads the file, and returns what it read, or the errno on the way.
func (c *client) readFile(fid uint32, names ...string) (string, unix.Errno) {
	c.t.Helper()
	if _, e := c.walk(fid, names...); e != 0 {
		return "", e
	}
	defer c.clunk(fid)
	if e := c.fail(&p9.Tlopen{Fid: fid, Flags: unix.O_RDONLY}); e != 0 {
		return "", e
	}
	r, ok := c.rpc(&p9.Tread{Fid: fid, Count: 1 << 16}).(*p9.Rread)
	if !ok {
		return "", unix.EIO
	}
	return string(r.Data), 0
}

func (c *client) listDir(fid uint32, names ...string) []string {
	c.t.Helper()
	if _, e := c.walk(fid, names...); e != 0 {
		c.t.Fatalf("walk %v: %v", names, e)
	}
	defer c.clunk(fid)
	if e := c.fail(&p9.Tlopen{Fid: fid, Flags: unix.O_RDONLY}); e != 0 {
		c.t.Fatalf("open dir: %v", e)
	}
	var out []string
	var off uint64
	for {
		r, ok := c.rpc(&p9.Treaddir{Fid: fid, Offset: off, Count: 200}).(*p9.Rreaddir)
		if !ok {
			c.t.Fatal("readdir failed")
		}
		ents, err := p9.ParseDirents(r.Data)
		if err != nil {
			c.t.Fatal(err)
		}
		if len(ents) == 0 {
			sort.Strings(out)
			return out
		}
		for _, e := range ents {
			if e.Name != "." && e.Name != ".." {
				out = append(out, e.Name)
			}
			off = e.Offset
		}
	}
}

func mustWrite(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

var _ = io.EOF
