package control

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Client is one connection to a VM's control socket. Calls are serialised.
type Client struct {
	mu     sync.Mutex
	conn   net.Conn
	r      *bufio.Reader
	nextID uint64
}

// ErrNotRunning means no VM answers on the socket.
var ErrNotRunning = errors.New("no running VM by that name")

// Dial connects to the socket at path.
func Dial(path string) (*Client, error) {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w (%s)", ErrNotRunning, path)
		}
		return nil, fmt.Errorf("connect to %s: %w", path, err)
	}
	return &Client{conn: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

// Close ends the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Call sends op with args and decodes the result into out (which may be nil).
func (c *Client) Call(op string, args any, out any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.call(op, args, out, nil, nil)
}

// CallFDs is Call for an operation whose reply carries file descriptors; the caller owns the ones returned.
func (c *Client) CallFDs(op string, args any, out any) ([]int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var fds []int
	err := c.call(op, args, out, &fds, nil)
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, err
	}
	return fds, nil
}

// call does one request. With fds set, the reply is read straight from the socket so that descriptors attached
// to it are received; calls are serialised and replies read whole, so nothing is left buffered in between.
func (c *Client) call(op string, args any, out any, fds *[]int, send []int) error {
	c.nextID++
	req := Request{V: Version, ID: c.nextID, Op: op, FDs: len(send)}
	if args != nil {
		raw, err := json.Marshal(args)
		if err != nil {
			return fmt.Errorf("encode %s arguments: %w", op, err)
		}
		req.Args = raw
	}
	line, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode %s: %w", op, err)
	}
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.conn.SetDeadline(time.Time{})
	if err := c.send(append(line, '\n'), send); err != nil {
		return fmt.Errorf("send %s: %w", op, err)
	}
	for {
		var raw []byte
		if fds != nil {
			raw, err = c.readLineFDs(fds)
		} else {
			raw, err = readLine(c.r, MaxReply)
		}
		if err != nil {
			return fmt.Errorf("read reply to %s: %w", op, err)
		}
		var rep Reply
		if err := json.Unmarshal(raw, &rep); err != nil {
			return fmt.Errorf("malformed reply to %s: %w", op, err)
		}
		if rep.ID != req.ID && rep.ID != 0 {
			continue // a reply to an earlier, abandoned call
		}
		if !rep.OK {
			return &RemoteError{Msg: rep.Error}
		}
		if out != nil && len(rep.Result) > 0 {
			if err := json.Unmarshal(rep.Result, out); err != nil {
				return fmt.Errorf("decode %s result: %w", op, err)
			}
		}
		return nil
	}
}

// send writes one request line, with descriptors attached to its first byte when there are any.
func (c *Client) send(line []byte, fds []int) error {
	if len(fds) == 0 {
		_, err := c.conn.Write(line)
		return err
	}
	uc, ok := c.conn.(*net.UnixConn)
	if !ok {
		return errors.New("cannot send descriptors on this connection")
	}
	n, _, err := uc.WriteMsgUnix(line, unix.UnixRights(fds...), nil)
	if err != nil {
		return err
	}
	_, err = c.conn.Write(line[n:])
	return err
}

// readLineFDs reads one reply line directly from the socket, collecting descriptors passed with it.
func (c *Client) readLineFDs(fds *[]int) ([]byte, error) {
	uc, ok := c.conn.(*net.UnixConn)
	if !ok || c.r.Buffered() > 0 {
		return nil, errors.New("cannot receive descriptors on this connection")
	}
	var line []byte
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*8))
	for {
		n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
		if oobn > 0 {
			msgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
			if perr == nil {
				for _, m := range msgs {
					if got, err := unix.ParseUnixRights(&m); err == nil {
						*fds = append(*fds, got...)
					}
				}
			}
		}
		if n < 0 { // the connection broke mid-message
			if err == nil {
				err = errors.New("connection closed")
			}
			return nil, err
		}
		line = append(line, buf[:n]...)
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			if i != len(line)-1 {
				return nil, errors.New("unexpected data after a reply")
			}
			return line[:i], nil
		}
		if err != nil {
			return nil, err
		}
		if n == 0 || len(line) > MaxReply {
			return nil, errors.New("reply too long or connection closed")
		}
	}
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidateName checks a VM name is usable as a socket file name.
func ValidateName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("invalid VM name %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// SocketDir is where running VMs' sockets live: $XDG_RUNTIME_DIR/paddock, or a per-user directory under the
// system temp dir when there is no runtime dir (as on a bare root shell).
func SocketDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "paddock")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("paddock-%d", os.Getuid()))
}

// SocketPath is the control socket of the VM called name.
func SocketPath(name string) string { return filepath.Join(SocketDir(), name+".sock") }

// EnsureSocketDir creates the socket directory, private to this user.
func EnsureSocketDir() (string, error) {
	d := SocketDir()
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", fmt.Errorf("create socket directory %s: %w", d, err)
	}
	return d, nil
}
