package shareserver

import (
	"encoding/binary"
	"math"
	"unsafe"

	"golang.org/x/sys/unix"

	"paddock/sharing/p9"
)

// openFlags are the Linux open flags a guest may ask for; the rest (O_DIRECT, O_NOATIME, O_PATH, ...) are dropped.
const openFlags = unix.O_ACCMODE | unix.O_TRUNC | unix.O_APPEND | unix.O_DSYNC | unix.O_SYNC

// permBits are the mode bits a guest may set: never setuid or setgid.
const permBits = 0o1777

func (s *server) dirFid(n uint32) (*fid, unix.Errno) {
	f, ok := s.fids[n]
	switch {
	case !ok:
		return nil, unix.EBADF
	case !f.isDir:
		return nil, unix.ENOTDIR
	}
	return f, 0
}

// reopen opens what f names for real. A directory reopens through its own descriptor; a regular file through its
// path from the root, checked to be the same file; anything else (a symlink, device node, FIFO, socket) is refused.
func (s *server) reopen(f *fid, flags int) (int, error) {
	var st unix.Stat_t
	if err := unix.Fstat(f.path, &st); err != nil {
		return -1, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if flags&unix.O_ACCMODE != unix.O_RDONLY {
			return -1, unix.EISDIR
		}
		return openBeneath(f.path, ".", flags|unix.O_DIRECTORY)
	case unix.S_IFREG:
		// O_NONBLOCK so that a FIFO swapped in after the check cannot stall the server before it is refused.
		fd, err := openBeneath(s.rootFD, joinElems(f.elems), flags|unix.O_NONBLOCK)
		if err != nil {
			return -1, err
		}
		var got unix.Stat_t
		if err := unix.Fstat(fd, &got); err != nil {
			unix.Close(fd)
			return -1, err
		}
		if got.Mode&unix.S_IFMT != unix.S_IFREG || got.Ino != st.Ino || got.Dev != st.Dev {
			unix.Close(fd)
			return -1, unix.ESTALE
		}
		return fd, nil
	case unix.S_IFLNK:
		return -1, unix.ELOOP
	}
	return -1, unix.EACCES
}

func (s *server) ioUnit() uint32 { return s.msize - p9.IOHeader }

func (s *server) lopen(m *p9.Tlopen) p9.Msg {
	f, ok := s.fids[m.Fid]
	if !ok || f.open >= 0 {
		return rlerror(unix.EBADF)
	}
	flags := int(m.Flags) & openFlags
	if s.readOnly && (flags&unix.O_ACCMODE != unix.O_RDONLY || flags&unix.O_TRUNC != 0) {
		return rlerror(unix.EROFS)
	}
	// Truncation waits until the file is known to be the one walked to.
	fd, err := s.reopen(f, flags&^unix.O_TRUNC)
	if err != nil {
		return errno(err)
	}
	if flags&unix.O_TRUNC != 0 && !f.isDir {
		if err := unix.Ftruncate(fd, 0); err != nil {
			unix.Close(fd)
			return errno(err)
		}
	}
	f.open, f.flags, f.dirent = fd, uint32(flags), nil
	return &p9.Rlopen{Qid: f.qid, IOUnit: s.ioUnit()}
}

func (s *server) lcreate(m *p9.Tlcreate) p9.Msg {
	if s.readOnly {
		return rlerror(unix.EROFS)
	}
	f, e := s.dirFid(m.Fid)
	if e != 0 {
		return rlerror(e)
	}
	if f.open >= 0 {
		return rlerror(unix.EBADF)
	}
	if !p9.ValidName(m.Name) {
		return rlerror(unix.EINVAL)
	}
	flags := int(m.Flags)&openFlags | unix.O_CREAT | int(m.Flags)&unix.O_EXCL
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK),
		Mode:    uint64(m.Mode & 0o777),
		Resolve: resolveFlags,
	}
	fd, err := unix.Openat2(f.path, m.Name, &how)
	if err != nil {
		return errno(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return rlerror(unix.EACCES)
	}
	pathFD, err := openBeneath(f.path, m.Name, unix.O_PATH)
	if err != nil {
		unix.Close(fd)
		return errno(err)
	}
	unix.Close(f.path)
	f.path, f.open, f.flags, f.isDir, f.dirent = pathFD, fd, uint32(flags), false, nil
	f.elems = append(f.elems, m.Name)
	f.qid = qidOf(&st)
	return &p9.Rlcreate{Qid: f.qid, IOUnit: s.ioUnit()}
}

func (s *server) read(m *p9.Tread) p9.Msg {
	f, ok := s.fids[m.Fid]
	if !ok || f.open < 0 || f.isDir || f.flags&unix.O_ACCMODE == unix.O_WRONLY {
		return rlerror(unix.EBADF)
	}
	if m.Offset > math.MaxInt64 {
		return rlerror(unix.EINVAL)
	}
	buf := make([]byte, min(m.Count, s.ioUnit()))
	n, err := unix.Pread(f.open, buf, int64(m.Offset))
	if err != nil {
		return errno(err)
	}
	return &p9.Rread{Data: buf[:n]}
}

func (s *server) write(m *p9.Twrite) p9.Msg {
	if s.readOnly {
		return rlerror(unix.EROFS)
	}
	f, ok := s.fids[m.Fid]
	if !ok || f.open < 0 || f.isDir || f.flags&unix.O_ACCMODE == unix.O_RDONLY {
		return rlerror(unix.EBADF)
	}
	if m.Offset > math.MaxInt64 {
		return rlerror(unix.EINVAL)
	}
	n, err := unix.Pwrite(f.open, m.Data, int64(m.Offset))
	if err != nil {
		return errno(err)
	}
	return &p9.Rwrite{Count: uint32(n)}
}

func (s *server) readdir(m *p9.Treaddir) p9.Msg {
	f, ok := s.fids[m.Fid]
	if !ok || f.open < 0 || !f.isDir {
		return rlerror(unix.EBADF)
	}
	if m.Offset == 0 || f.dirent == nil {
		ents, err := listDir(f.open)
		if err != nil {
			return errno(err)
		}
		f.dirent = ents
	}
	limit := int(min(m.Count, s.msize-p9.HeaderSize-4))
	var out []byte
	for i := m.Offset; i < uint64(len(f.dirent)); i++ {
		de := f.dirent[i]
		if len(out)+de.Size() > limit {
			break
		}
		out = p9.AppendDirent(out, de)
	}
	return &p9.Rreaddir{Data: out}
}

// listDir reads a whole directory; each entry's offset is the index of the next.
func listDir(fd int) ([]p9.Dirent, error) {
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return nil, err
	}
	var out []p9.Dirent
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return out, nil
		}
		b := buf[:n]
		for len(b) >= 19 {
			reclen := int(binary.LittleEndian.Uint16(b[16:]))
			if reclen < 19 || reclen > len(b) {
				return nil, unix.EIO
			}
			ino := binary.LittleEndian.Uint64(b)
			typ := b[18]
			name := b[19:reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			if len(out) >= maxDirEntries {
				return nil, unix.EFBIG
			}
			q := p9.Qid{Path: ino}
			switch typ {
			case unix.DT_DIR:
				q.Type = p9.QTDIR
			case unix.DT_LNK:
				q.Type = p9.QTSYMLINK
			}
			out = append(out, p9.Dirent{Qid: q, Offset: uint64(len(out) + 1), Type: typ, Name: string(name)})
			b = b[reclen:]
		}
	}
}

func (s *server) readlink(m *p9.Treadlink) p9.Msg {
	f, ok := s.fids[m.Fid]
	if !ok {
		return rlerror(unix.EBADF)
	}
	if f.qid.Type != p9.QTSYMLINK {
		return rlerror(unix.EINVAL)
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(f.path, "", buf)
	if err != nil {
		return errno(err)
	}
	return &p9.Rreadlink{Target: string(buf[:n])}
}

func (s *server) getattr(m *p9.Tgetattr) p9.Msg {
	f, ok := s.fids[m.Fid]
	if !ok {
		return rlerror(unix.EBADF)
	}
	var st unix.Stat_t
	if err := unix.Fstat(f.path, &st); err != nil {
		return errno(err)
	}
	return &p9.Rgetattr{
		Valid: p9.GetattrBasic, Qid: qidOf(&st), Mode: st.Mode, UID: st.Uid, GID: st.Gid,
		Nlink: st.Nlink, Rdev: st.Rdev, Size: uint64(st.Size), BlkSize: uint64(st.Blksize), Blocks: uint64(st.Blocks),
		AtimeSec: uint64(st.Atim.Sec), AtimeNsec: uint64(st.Atim.Nsec),
		MtimeSec: uint64(st.Mtim.Sec), MtimeNsec: uint64(st.Mtim.Nsec),
		CtimeSec: uint64(st.Ctim.Sec), CtimeNsec: uint64(st.Ctim.Nsec),
	}
}

func (s *server) setattr(m *p9.Tsetattr) p9.Msg {
	f, ok := s.fids[m.Fid]
	if !ok {
		return rlerror(unix.EBADF)
	}
	if s.readOnly {
		return rlerror(unix.EROFS)
	}
	if m.Valid&(p9.SetattrUID|p9.SetattrGID) != 0 {
		return rlerror(unix.EPERM)
	}
	if m.Valid&(p9.SetattrMode|p9.SetattrSize|p9.SetattrAtime|p9.SetattrMtime) == 0 {
		return &p9.Rsetattr{}
	}
	acc := unix.O_RDONLY
	if m.Valid&p9.SetattrSize != 0 {
		acc = unix.O_WRONLY
	}
	fd, err := s.reopen(f, acc)
	if err != nil {
		return errno(err)
	}
	defer unix.Close(fd)
	if m.Valid&p9.SetattrMode != 0 {
		if err := unix.Fchmod(fd, m.Mode&permBits); err != nil {
			return errno(err)
		}
	}
	if m.Valid&p9.SetattrSize != 0 {
		if m.Size > math.MaxInt64 {
			return rlerror(unix.EINVAL)
		}
		if err := unix.Ftruncate(fd, int64(m.Size)); err != nil {
			return errno(err)
		}
	}
	if m.Valid&(p9.SetattrAtime|p9.SetattrMtime) != 0 {
		ts := [2]unix.Timespec{
			timeArg(m.Valid, p9.SetattrAtime, p9.SetattrAtimeSet, m.AtimeSec, m.AtimeNsec),
			timeArg(m.Valid, p9.SetattrMtime, p9.SetattrMtimeSet, m.MtimeSec, m.MtimeNsec),
		}
		// utimensat(fd, NULL, times, 0) sets the times of the open file itself.
		if _, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0); e != 0 {
			return rlerror(e)
		}
	}
	return &p9.Rsetattr{}
}

func timeArg(valid, bit, setBit uint32, sec, nsec uint64) unix.Timespec {
	switch {
	case valid&bit == 0:
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	case valid&setBit == 0:
		return unix.Timespec{Nsec: unix.UTIME_NOW}
	}
	return unix.Timespec{Sec: int64(sec & math.MaxInt64), Nsec: int64(nsec % 1e9)}
}

func (s *server) statfs(m *p9.Tstatfs) p9.Msg {
	f, ok := s.fids[m.Fid]
	if !ok {
		return rlerror(unix.EBADF)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(f.path, &st); err != nil {
		return errno(err)
	}
	return &p9.Rstatfs{
		FsType: uint32(st.Type), BSize: uint32(st.Bsize), Blocks: st.Blocks, BFree: st.Bfree, BAvail: st.Bavail,
		Files: st.Files, FFree: st.Ffree, NameLen: uint32(st.Namelen),
	}
}

// childQid stats name in dirFD without following it.
func childQid(dirFD int, name string) (p9.Qid, error) {
	fd, err := openBeneath(dirFD, name, unix.O_PATH)
	if err != nil {
		return p9.Qid{}, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return p9.Qid{}, err
	}
	return qidOf(&st), nil
}

func (s *server) mkdir(m *p9.Tmkdir) p9.Msg {
	if s.readOnly {
		return rlerror(unix.EROFS)
	}
	f, e := s.dirFid(m.Dfid)
	if e != 0 {
		return rlerror(e)
	}
	if !p9.ValidName(m.Name) {
		return rlerror(unix.EINVAL)
	}
	if err := unix.Mkdirat(f.path, m.Name, m.Mode&0o777); err != nil {
		return errno(err)
	}
	q, err := childQid(f.path, m.Name)
	if err != nil {
		return errno(err)
	}
	return &p9.Rmkdir{Qid: q}
}

func (s *server) symlink(m *p9.Tsymlink) p9.Msg {
	if s.readOnly {
		return rlerror(unix.EROFS)
	}
	f, e := s.dirFid(m.Fid)
	if e != 0 {
		return rlerror(e)
	}
	// The target is stored, never followed: every resolution here refuses symlinks.
	if !p9.ValidName(m.Name) || m.Target == "" || len(m.Target) >= unix.PathMax {
		return rlerror(unix.EINVAL)
	}
	if err := unix.Symlinkat(m.Target, f.path, m.Name); err != nil {
		return errno(err)
	}
	q, err := childQid(f.path, m.Name)
	if err != nil {
		return errno(err)
	}
	return &p9.Rsymlink{Qid: q}
}

func (s *server) unlinkat(m *p9.Tunlinkat) p9.Msg {
	if s.readOnly {
		return rlerror(unix.EROFS)
	}
	f, e := s.dirFid(m.DirFid)
	if e != 0 {
		return rlerror(e)
	}
	if !p9.ValidName(m.Name) || m.Flags&^unix.AT_REMOVEDIR != 0 {
		return rlerror(unix.EINVAL)
	}
	if err := unix.Unlinkat(f.path, m.Name, int(m.Flags)); err != nil {
		return errno(err)
	}
	return &p9.Runlinkat{}
}

func (s *server) renameat(m *p9.Trenameat) p9.Msg {
	if s.readOnly {
		return rlerror(unix.EROFS)
	}
	from, e := s.dirFid(m.OldDirFid)
	if e != 0 {
		return rlerror(e)
	}
	to, e := s.dirFid(m.NewDirFid)
	if e != 0 {
		return rlerror(e)
	}
	// Both ends are one name inside a directory of the share: a rename cannot reach outside it.
	if !p9.ValidName(m.OldName) || !p9.ValidName(m.NewName) {
		return rlerror(unix.EINVAL)
	}
	if err := unix.Renameat(from.path, m.OldName, to.path, m.NewName); err != nil {
		return errno(err)
	}
	return &p9.Rrenameat{}
}
