package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Requests may carry open files to the VM (SCM_RIGHTS), as a jailed VMM cannot open any itself: an ISO to insert,
// for instance. The request says how many it carries (Request.FDs); they arrive with its first byte, and a
// client sends nothing more until the reply (Client does so). Descriptors a request does not claim are closed
// when it is handled, so a client cannot make the VM hold descriptors, nor slip one to a later request.

// MaxRequestFiles bounds the descriptors one request may carry, and those a connection may have waiting.
const MaxRequestFiles = 4

// FileHandler is a Handler that also serves requests carrying files. The files are the handler's to keep or close.
type FileHandler interface {
	HandleFiles(op string, args json.RawMessage, files []*os.File) (any, error)
}

// rightsReader reads a unix socket, keeping descriptors passed along with the bytes in arrival order.
type rightsReader struct {
	conn *net.UnixConn
	oob  []byte

	mu      sync.Mutex
	pending []int
}

func newRightsReader(c *net.UnixConn) *rightsReader {
	return &rightsReader{conn: c, oob: make([]byte, unix.CmsgSpace(MaxRequestFiles*4))}
}

func (r *rightsReader) Read(p []byte) (int, error) {
	n, oobn, _, _, err := r.conn.ReadMsgUnix(p, r.oob)
	if oobn > 0 {
		r.keep(r.oob[:oobn])
	}
	if n < 0 { // the socket failed: ReadMsgUnix says so with -1
		n = 0
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
	}
	if n == 0 && err == nil {
		err = io.EOF
	}
	return n, err
}

// keep queues received descriptors; past the bound, and for control messages it cannot parse, it closes them.
func (r *rightsReader) keep(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range msgs {
		fds, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if len(r.pending) >= MaxRequestFiles {
				unix.Close(fd)
				continue
			}
			r.pending = append(r.pending, fd)
		}
	}
}

// take hands over the first n waiting descriptors as files; with fewer waiting, it takes none.
func (r *rightsReader) take(n int) ([]*os.File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n < 0 || n > MaxRequestFiles || len(r.pending) < n {
		got := len(r.pending)
		r.closePendingLocked()
		if n < 0 || n > MaxRequestFiles {
			return nil, fmt.Errorf("a request may carry at most %d files", MaxRequestFiles)
		}
		return nil, fmt.Errorf("the request names %d files but %d arrived", n, got)
	}
	files := make([]*os.File, n)
	for i, fd := range r.pending[:n] {
		unix.CloseOnExec(fd)
		files[i] = os.NewFile(uintptr(fd), "passed")
	}
	for _, fd := range r.pending[n:] {
		unix.Close(fd)
	}
	r.pending = nil
	return files, nil
}

// discard closes descriptors nobody asked for.
func (r *rightsReader) discard() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closePendingLocked()
}

func (r *rightsReader) closePendingLocked() {
	for _, fd := range r.pending {
		unix.Close(fd)
	}
	r.pending = nil
}

// handleWithFiles runs a request that carries files.
func (s *Server) handleWithFiles(req Request, rights *rightsReader) (any, error) {
	if rights == nil {
		return nil, errors.New("files need a unix socket")
	}
	files, err := rights.take(req.FDs)
	if err != nil {
		return nil, err
	}
	fh, ok := s.handler.(FileHandler)
	if !ok {
		closeAll(files)
		return nil, fmt.Errorf("%q takes no files", req.Op)
	}
	return fh.HandleFiles(req.Op, req.Args, files)
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// CallWithFiles is Call for an operation that takes open files: they travel with the request (the VM gets its
// own descriptors; the caller still owns and closes files).
func (c *Client) CallWithFiles(op string, args any, out any, files ...*os.File) error {
	if len(files) == 0 || len(files) > MaxRequestFiles {
		return fmt.Errorf("%s: between 1 and %d files, not %d", op, MaxRequestFiles, len(files))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	return c.call(op, args, out, nil, fds)
}

// OpChangeMedia puts the ISO passed with the request in the VM's CD-ROM drive (ChangeMediaArgs -> Media), or,
// with no file, ejects it.
const OpChangeMedia = "change-media"

// ChangeMediaArgs names the image passed, as the user knows it.
type ChangeMediaArgs struct {
	Name string `json:"name,omitempty"`
}

// Media is what is in the VM's CD-ROM drive: the image's name, or "" when it is empty.
type Media struct {
	ISO string `json:"iso"`
}

// ChangeMedia inserts the image open as f (named name) in the VM's CD-ROM drive; with f nil it ejects the medium.
func (c *Client) ChangeMedia(f *os.File, name string) (Media, error) {
	var m Media
	if f == nil {
		return m, c.Call(OpChangeMedia, nil, &m)
	}
	return m, c.CallWithFiles(OpChangeMedia, ChangeMediaArgs{Name: name}, &m, f)
}
