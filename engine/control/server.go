package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Server accepts control connections on a unix socket.
type Server struct {
	path    string
	ln      *net.UnixListener
	handler Handler
	log     *slog.Logger

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  chan struct{}
	wg    sync.WaitGroup
}

// Listen creates the socket at path (mode 0600; its directory 0700) and serves h on it until Close. A stale
// socket left by a dead VMM is replaced; a live one is an error, so two VMs never share a name.
func Listen(path string, h Handler, log *slog.Logger) (*Server, error) {
	if err := claimSocketPath(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("restrict %s: %w", path, err)
	}
	s := &Server{path: path, ln: ln, handler: h, log: log, conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// ErrNameInUse means a live VM already answers on the socket.
var ErrNameInUse = errors.New("a running VM already uses this name")

func claimSocketPath(path string) error {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w (%s)", ErrNameInUse, path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}

// Path is the socket's file name.
func (s *Server) Path() string { return s.path }

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			s.log.Warn("control socket accept failed", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	var r *bufio.Reader
	var rights *rightsReader
	if uc, ok := c.(*net.UnixConn); ok {
		rights = newRightsReader(uc)
		defer rights.discard()
		r = bufio.NewReaderSize(rights, 64<<10)
	} else {
		r = bufio.NewReaderSize(c, 64<<10)
	}
	enc := json.NewEncoder(c)
	for {
		line, err := readLine(r, MaxLine)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				enc.Encode(errorReply(0, "request longer than %d bytes", MaxLine))
			}
			return
		}
		if len(line) == 0 {
			continue
		}
		rep, fds, closeFDs := s.dispatch(line, rights)
		if len(fds) > 0 {
			err := writeWithFDs(c, rep, fds)
			if closeFDs {
				for _, fd := range fds {
					unix.Close(fd)
				}
			}
			if err != nil {
				return
			}
			continue
		}
		if err := enc.Encode(rep); err != nil {
			return
		}
	}
}

func (s *Server) dispatch(line []byte, rights *rightsReader) (rep Reply, fds []int, closeFDs bool) {
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		return errorReply(0, "malformed request: %v", err), nil, false
	}
	if req.V > Version || req.V < 1 {
		return errorReply(req.ID, "protocol version %d not supported (this VM speaks %d)", req.V, Version), nil, false
	}
	defer func() {
		// A handler bug must not take the VM down with it.
		if p := recover(); p != nil {
			s.log.Error("control request failed", "op", req.Op, "panic", p)
			rep, fds, closeFDs = errorReply(req.ID, "internal error handling %q", req.Op), nil, false
		}
	}()
	var res any
	var err error
	if req.FDs != 0 {
		res, err = s.handleWithFiles(req, rights)
	} else {
		if rights != nil {
			rights.discard()
		}
		res, err = s.handler.Handle(req.Op, req.Args)
	}
	if err != nil {
		return errorReply(req.ID, "%v", err), nil, false
	}
	if wf, ok := res.(WithFDs); ok {
		res, fds, closeFDs = wf.Result, wf.FDs, wf.CloseAfter
	}
	raw, err := json.Marshal(res)
	if err != nil {
		if closeFDs {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
		return errorReply(req.ID, "%s: encode result: %v", req.Op, err), nil, false
	}
	return Reply{V: Version, ID: req.ID, OK: true, Result: raw}, fds, closeFDs
}

// WithFDs is a handler result that passes file descriptors along with the reply (SCM_RIGHTS). The descriptors
// stay the handler's (the server duplicates nothing and closes nothing) unless CloseAfter hands them over: the
// server then closes them once the reply is sent or has failed.
type WithFDs struct {
	Result     any
	FDs        []int
	CloseAfter bool
}

// writeWithFDs sends one reply line with descriptors attached to its first byte.
func writeWithFDs(c net.Conn, rep Reply, fds []int) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return errors.New("descriptors need a unix socket")
	}
	line, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	n, _, err := uc.WriteMsgUnix(line, unix.UnixRights(fds...), nil)
	if err != nil {
		return err
	}
	_, err = c.Write(line[n:])
	return err
}

var errLineTooLong = errors.New("line too long")

func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		frag, isPrefix, err := r.ReadLine()
		if err != nil {
			return nil, err
		}
		if len(line)+len(frag) > limit {
			return nil, errLineTooLong
		}
		line = append(line, frag...)
		if !isPrefix {
			return line, nil
		}
	}
}

// Close stops accepting, closes every connection and removes the socket.
func (s *Server) Close() error {
	close(s.done)
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}
