// Package shareserver serves one host folder to a guest over 9P2000.L, confined to that folder: every path is
// resolved with openat2 beneath the share root without following symlinks or crossing mounts, device nodes, FIFOs
// and sockets are never opened, setuid and setgid bits never set, and a read-only share refuses every change here,
// whatever the guest's mount flags say.
package shareserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"golang.org/x/sys/unix"

	"paddock/sharing/p9"
)

const (
	// maxMsize bounds the negotiated message size (and so every buffer the server allocates per message).
	maxMsize = 1 << 20
	// maxFids bounds the fid table; each fid holds a descriptor.
	maxFids = 4096
	// maxDirEntries bounds how many entries one directory listing holds in memory.
	maxDirEntries = 1 << 16
)

// Serve answers 9P requests from conn until it closes or ctx ends, exposing root (a directory) and nothing outside
// it. With readOnly, every request that would change the share fails with EROFS.
func Serve(ctx context.Context, conn io.ReadWriter, root string, readOnly bool, log *slog.Logger) error {
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening share root %s: %w", root, err)
	}
	defer unix.Close(rootFD)
	return ServeFD(ctx, conn, rootFD, readOnly, log)
}

// ServeFD is Serve with the root already open (an O_PATH or ordinary directory descriptor, which stays the
// caller's), for a process that opens it before it is jailed.
func ServeFD(ctx context.Context, conn io.ReadWriter, rootFD int, readOnly bool, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &server{rootFD: rootFD, readOnly: readOnly, log: log, fids: map[uint32]*fid{}, msize: p9.MinMsize}
	defer s.closeAll()
	if c, ok := conn.(io.Closer); ok {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
	}
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		tag, msg, err := p9.ReadMsg(conn, s.msize)
		var de *p9.DecodeError
		switch {
		case errors.As(err, &de):
			log.Warn("share: malformed request", "type", de.Type, "err", de.Err)
			code := unix.EINVAL
			if errors.Is(err, p9.ErrUnknownType) {
				code = unix.EOPNOTSUPP
			}
			if err := p9.WriteMsg(conn, tag, &p9.Rlerror{Ecode: uint32(code)}); err != nil {
				return fmt.Errorf("share: writing reply: %w", err)
			}
			continue
		case errors.Is(err, io.EOF) || ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			return fmt.Errorf("share: reading request: %w", err)
		}
		reply := s.handle(msg)
		if err := p9.WriteMsg(conn, tag, reply); err != nil {
			return fmt.Errorf("share: writing reply: %w", err)
		}
	}
}

// fid is one guest handle: an O_PATH descriptor for what it names, its path from the root (to resolve ".."), and,
// once opened, a real descriptor.
type fid struct {
	path   int      // O_PATH|O_NOFOLLOW descriptor
	elems  []string // path from the share root, each a valid name
	qid    p9.Qid
	open   int // -1 until Tlopen/Tlcreate
	flags  uint32
	isDir  bool
	dirent []p9.Dirent // a directory listing, read at offset 0
}

type server struct {
	mu       sync.Mutex // requests are handled one at a time; the lock keeps that true for any later change
	rootFD   int
	readOnly bool
	log      *slog.Logger
	msize    uint32
	fids     map[uint32]*fid
}

func (s *server) closeAll() {
	for n, f := range s.fids {
		f.close()
		delete(s.fids, n)
	}
}

func (f *fid) close() {
	if f.open >= 0 {
		unix.Close(f.open)
		f.open = -1
	}
	if f.path >= 0 {
		unix.Close(f.path)
		f.path = -1
	}
}

// errno turns an error from a system call into the errno the guest sees.
func errno(err error) *p9.Rlerror {
	var e unix.Errno
	if errors.As(err, &e) {
		return &p9.Rlerror{Ecode: uint32(e)}
	}
	return &p9.Rlerror{Ecode: uint32(unix.EIO)}
}

func rlerror(e unix.Errno) *p9.Rlerror { return &p9.Rlerror{Ecode: uint32(e)} }

func (s *server) handle(m p9.Msg) p9.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch m := m.(type) {
	case *p9.Tversion:
		return s.version(m)
	case *p9.Tauth:
		return rlerror(unix.EOPNOTSUPP)
	case *p9.Tattach:
		return s.attach(m)
	case *p9.Tflush:
		// Requests are answered in order, so the one being flushed has already had its answer.
		return &p9.Rflush{}
	case *p9.Twalk:
		return s.walk(m)
	case *p9.Tclunk:
		f, ok := s.fids[m.Fid]
		if !ok {
			return rlerror(unix.EBADF)
		}
		f.close()
		delete(s.fids, m.Fid)
		return &p9.Rclunk{}
	case *p9.Tremove:
		// Tremove clunks even when it fails; Linux clients use Tunlinkat instead.
		if f, ok := s.fids[m.Fid]; ok {
			f.close()
			delete(s.fids, m.Fid)
		}
		if s.readOnly {
			return rlerror(unix.EROFS)
		}
		return rlerror(unix.EOPNOTSUPP)
	case *p9.Tgetattr:
		return s.getattr(m)
	case *p9.Tsetattr:
		return s.setattr(m)
	case *p9.Tstatfs:
		return s.statfs(m)
	case *p9.Tlopen:
		return s.lopen(m)
	case *p9.Tlcreate:
		return s.lcreate(m)
	case *p9.Tread:
		return s.read(m)
	case *p9.Twrite:
		return s.write(m)
	case *p9.Treaddir:
		return s.readdir(m)
	case *p9.Tfsync:
		f, ok := s.fids[m.Fid]
		if !ok || f.open < 0 {
			return rlerror(unix.EBADF)
		}
		if err := unix.Fsync(f.open); err != nil {
			return errno(err)
		}
		return &p9.Rfsync{}
	case *p9.Treadlink:
		return s.readlink(m)
	case *p9.Tmkdir:
		return s.mkdir(m)
	case *p9.Tsymlink:
		return s.symlink(m)
	case *p9.Tunlinkat:
		return s.unlinkat(m)
	case *p9.Trenameat:
		return s.renameat(m)
	case *p9.Trename:
		return s.refuseWrite(unix.EOPNOTSUPP)
	case *p9.Tlink:
		// Hard links could join a file inside the share to one outside it that the guest may not reach.
		return s.refuseWrite(unix.EPERM)
	case *p9.Tmknod:
		// Device nodes, FIFOs and sockets are never made.
		return s.refuseWrite(unix.EPERM)
	case *p9.Txattrwalk:
		// Extended attributes are neither listed nor read: they carry host security labels.
		if _, ok := s.fids[m.Fid]; !ok {
			return rlerror(unix.EBADF)
		}
		return rlerror(unix.EOPNOTSUPP)
	case *p9.Txattrcreate:
		return s.refuseWrite(unix.EOPNOTSUPP)
	case *p9.Tlock:
		// Locks are advisory and local to the guest's kernel; the host does not arbitrate them.
		if _, ok := s.fids[m.Fid]; !ok {
			return rlerror(unix.EBADF)
		}
		return &p9.Rlock{Status: p9.LockSuccess}
	case *p9.Tgetlock:
		if _, ok := s.fids[m.Fid]; !ok {
			return rlerror(unix.EBADF)
		}
		return &p9.Rgetlock{LockType: p9.LockTypeUnlck, Start: m.Start, Length: m.Length, ProcID: m.ProcID, ClientID: m.ClientID}
	}
	// Replies sent as requests, and anything else unexpected.
	return rlerror(unix.EOPNOTSUPP)
}

// refuseWrite answers a change the server never makes: EROFS on a read-only share, else the given errno.
func (s *server) refuseWrite(e unix.Errno) p9.Msg {
	if s.readOnly {
		return rlerror(unix.EROFS)
	}
	return rlerror(e)
}

func (s *server) version(m *p9.Tversion) p9.Msg {
	// A new session: every fid is forgotten.
	s.closeAll()
	msize := min(m.Msize, maxMsize)
	if msize < p9.MinMsize {
		return rlerror(unix.EINVAL)
	}
	if m.Version != p9.Version {
		return &p9.Rversion{Msize: msize, Version: "unknown"}
	}
	s.msize = msize
	return &p9.Rversion{Msize: msize, Version: p9.Version}
}

func (s *server) newFidOK(n uint32) unix.Errno {
	if n == p9.NoFid {
		return unix.EINVAL
	}
	if _, used := s.fids[n]; used {
		return unix.EBADF
	}
	if len(s.fids) >= maxFids {
		return unix.EMFILE
	}
	return 0
}

func (s *server) attach(m *p9.Tattach) p9.Msg {
	if e := s.newFidOK(m.Fid); e != 0 {
		return rlerror(e)
	}
	if m.Afid != p9.NoFid {
		return rlerror(unix.EINVAL)
	}
	fd, err := openBeneath(s.rootFD, ".", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return errno(err)
	}
	f, err := newFid(fd, nil)
	if err != nil {
		return errno(err)
	}
	s.fids[m.Fid] = f
	return &p9.Rattach{Qid: f.qid}
}

func newFid(pathFD int, elems []string) (*fid, error) {
	var st unix.Stat_t
	if err := unix.Fstat(pathFD, &st); err != nil {
		unix.Close(pathFD)
		return nil, err
	}
	return &fid{path: pathFD, elems: elems, qid: qidOf(&st), open: -1, isDir: st.Mode&unix.S_IFMT == unix.S_IFDIR}, nil
}

func qidOf(st *unix.Stat_t) p9.Qid {
	q := p9.Qid{Path: st.Ino}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		q.Type = p9.QTDIR
	case unix.S_IFLNK:
		q.Type = p9.QTSYMLINK
	}
	return q
}

// resolveFlags keep a resolution beneath its starting directory, on its file system, and off every symlink.
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_SYMLINKS

// openBeneath opens name relative to dirFD without leaving it. A trailing symlink yields an O_PATH descriptor of
// the link itself (with O_PATH), never its target.
func openBeneath(dirFD int, name string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_NOFOLLOW | unix.O_CLOEXEC), Resolve: resolveFlags}
	for {
		fd, err := unix.Openat2(dirFD, name, &how)
		if err == unix.EAGAIN || err == unix.EINTR {
			// openat2 asks for a retry when a rename raced the resolution.
			continue
		}
		return fd, err
	}
}

func (s *server) walk(m *p9.Twalk) p9.Msg {
	f, ok := s.fids[m.Fid]
	if !ok {
		return rlerror(unix.EBADF)
	}
	if f.open >= 0 {
		return rlerror(unix.EBADF)
	}
	if m.NewFid != m.Fid {
		if e := s.newFidOK(m.NewFid); e != 0 {
			return rlerror(e)
		}
	}
	cur, err := dupFD(f.path)
	if err != nil {
		return errno(err)
	}
	elems := append([]string(nil), f.elems...)
	qids := make([]p9.Qid, 0, len(m.Names))
	var walkErr error
	for _, name := range m.Names {
		next, nextElems, err := s.step(cur, elems, name)
		if err != nil {
			walkErr = err
			break
		}
		var st unix.Stat_t
		if err := unix.Fstat(next, &st); err != nil {
			unix.Close(next)
			walkErr = err
			break
		}
		unix.Close(cur)
		cur, elems = next, nextElems
		qids = append(qids, qidOf(&st))
	}
	if walkErr != nil {
		unix.Close(cur)
		if len(qids) == 0 {
			return errno(walkErr)
		}
		// A partial walk reports how far it got and makes no new fid.
		return &p9.Rwalk{Qids: qids}
	}
	nf, err := newFid(cur, elems)
	if err != nil {
		return errno(err)
	}
	if m.NewFid == m.Fid {
		f.close()
	}
	s.fids[m.NewFid] = nf
	return &p9.Rwalk{Qids: qids}
}

// step walks one name from cur (a directory at path elems). ".." is resolved from the root along the remembered
// path, so it can never climb above the share; at the root it stays there.
func (s *server) step(cur int, elems []string, name string) (int, []string, error) {
	switch name {
	case ".":
		fd, err := dupFD(cur)
		return fd, elems, err
	case "..":
		if len(elems) == 0 {
			fd, err := openBeneath(s.rootFD, ".", unix.O_PATH|unix.O_DIRECTORY)
			return fd, nil, err
		}
		up := elems[:len(elems)-1]
		fd, err := openBeneath(s.rootFD, joinElems(up), unix.O_PATH|unix.O_DIRECTORY)
		return fd, append([]string(nil), up...), err
	}
	if !p9.ValidName(name) {
		return -1, nil, unix.EINVAL
	}
	fd, err := openBeneath(cur, name, unix.O_PATH)
	if err != nil {
		return -1, nil, err
	}
	return fd, append(append([]string(nil), elems...), name), nil
}

func joinElems(elems []string) string {
	if len(elems) == 0 {
		return "."
	}
	out := elems[0]
	for _, e := range elems[1:] {
		out += "/" + e
	}
	return out
}

// dupFD duplicates a descriptor close-on-exec, through fcntl: the jail's system-call list has no dup.
func dupFD(fd int) (int, error) {
	return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
}
