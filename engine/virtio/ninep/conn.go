package ninep

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"

	"paddock/sharing/p9"
)

// MaxMsize bounds one message in either direction; the share server never negotiates a larger one.
const MaxMsize = 1 << 20

// maxInFlight bounds the requests sent on one connection and not yet answered, and with MaxMsize the memory they
// hold.
const maxInFlight = 32

// Errors a request can meet before it reaches the server.
var (
	ErrRevoked = errors.New("9p: the share was revoked")
	ErrClosed  = errors.New("9p: the share connection is closed")
	ErrBusy    = errors.New("9p: too many requests in flight")
	ErrTooBig  = errors.New("9p: request larger than the negotiated msize")
)

// Conn is one share's connection to its share server: a connected stream socket carrying 9P messages, each
// framed by its own size field. The server answers requests one at a time and in order, so replies are matched
// to requests by order alone; the guest's tags are never trusted for that. A Conn outlives guest resets: each
// boot's device sends on the same one, after the previous boot's requests.
type Conn struct {
	sock *net.UnixConn
	log  *slog.Logger

	mu     sync.Mutex
	err    error    // why the connection is down; nil while it is up
	sent   []*call  // requests queued or written, awaiting their replies in order
	queue  [][]byte // requests not yet written
	msize  uint32   // the largest request the server accepts now
	notify func()   // tells the current device that replies (or failures) arrived
	wake   chan struct{}
	wg     sync.WaitGroup
}

// call is one request awaiting its reply.
type call struct {
	version bool // a Tversion, whose reply sets msize
	done    func(reply []byte, err error)
}

// NewConn serves 9P over f, a connected unix stream socket. f stays the caller's (the connection works on its own
// descriptor of the socket), but ending the connection shuts the socket itself down. NewConn never fails: a socket
// that cannot be used gives a connection that is down from the start, whose every request fails.
func NewConn(f *os.File, log *slog.Logger) *Conn {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Conn{log: log, msize: p9.MinMsize, wake: make(chan struct{}, 1)}
	sock, err := streamSocket(f)
	if err != nil {
		c.err = fmt.Errorf("%w: %v", ErrClosed, err)
		close(c.wake)
		log.Warn("9p: unusable share connection", "err", err)
		return c
	}
	c.sock = sock
	c.wg.Add(2)
	go c.writer()
	go c.reader()
	return c
}

func streamSocket(f *os.File) (*net.UnixConn, error) {
	if f == nil {
		return nil, errors.New("no share connection")
	}
	nc, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("share connection: %w", err)
	}
	uc, ok := nc.(*net.UnixConn)
	if !ok || uc.LocalAddr().Network() != "unix" {
		nc.Close()
		return nil, errors.New("share connection is not a unix stream socket")
	}
	return uc, nil
}

// setNotify names the function to call after replies arrive (the current device's wake-up).
func (c *Conn) setNotify(f func()) {
	c.mu.Lock()
	c.notify = f
	c.mu.Unlock()
}

// Err says why the connection is down, or nil while it is up.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Busy reports whether a request sent now would be refused for want of room; a connection that is down is not
// busy (its requests fail at once).
func (c *Conn) Busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err == nil && len(c.sent) >= maxInFlight
}

// Send queues one whole request (size field included) and never blocks: done runs later, on another goroutine,
// with the server's reply or the error that ended the connection. Send fails at once when the connection is down,
// busy, or the request exceeds the negotiated msize; done is then never called.
func (c *Conn) Send(req []byte, done func(reply []byte, err error)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.err != nil:
		return c.err
	case len(c.sent) >= maxInFlight:
		return ErrBusy
	case len(req) < p9.HeaderSize || len(req) > int(c.msize):
		return fmt.Errorf("%w (%d bytes, msize %d)", ErrTooBig, len(req), c.msize)
	}
	version := req[4] == p9.MsgTversion
	if version {
		// Until the server answers, only what any msize allows may follow.
		c.msize = p9.MinMsize
	}
	c.sent = append(c.sent, &call{version: version, done: done})
	c.queue = append(c.queue, req)
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

func (c *Conn) writer() {
	defer c.wg.Done()
	for range c.wake {
		c.mu.Lock()
		if c.err != nil {
			c.mu.Unlock()
			return
		}
		batch := c.queue
		c.queue = nil
		c.mu.Unlock()
		for _, req := range batch {
			if _, err := c.sock.Write(req); err != nil {
				c.fail(fmt.Errorf("%w: sending to the share server: %v", ErrClosed, err))
				return
			}
		}
	}
}

func (c *Conn) reader() {
	defer c.wg.Done()
	for {
		reply, err := c.readReply()
		if err != nil {
			c.fail(err)
			return
		}
		c.mu.Lock()
		if len(c.sent) == 0 {
			c.mu.Unlock()
			c.fail(fmt.Errorf("%w: the share server answered a request never made", ErrClosed))
			return
		}
		call := c.sent[0]
		c.sent[0] = nil
		c.sent = c.sent[1:]
		if call.version && reply[4] == p9.MsgRversion && len(reply) >= p9.HeaderSize+4 {
			c.msize = min(max(binary.LittleEndian.Uint32(reply[p9.HeaderSize:]), p9.MinMsize), MaxMsize)
		}
		notify := c.notify
		c.mu.Unlock()
		call.done(reply, nil)
		if notify != nil {
			notify()
		}
	}
}

// readReply reads one framed reply. A size out of bounds ends the connection: the stream cannot be trusted after.
func (c *Conn) readReply() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.sock, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: the share server went away: %v", ErrClosed, err)
	}
	size := binary.LittleEndian.Uint32(hdr[:])
	if size < p9.HeaderSize || size > MaxMsize {
		return nil, fmt.Errorf("%w: the share server sent a %d-byte message", ErrClosed, size)
	}
	buf := make([]byte, size)
	copy(buf, hdr[:])
	if _, err := io.ReadFull(c.sock, buf[4:]); err != nil {
		return nil, fmt.Errorf("%w: the share server went away: %v", ErrClosed, err)
	}
	return buf, nil
}

// fail takes the connection down for good: the socket is shut down (so the server sees the end even while other
// descriptors of it stay open), and every request awaiting a reply gets err.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	pending := c.sent
	c.sent, c.queue = nil, nil
	notify := c.notify
	close(c.wake)
	c.mu.Unlock()
	if !errors.Is(err, ErrClosed) || len(pending) > 0 {
		c.log.Warn("9p: share connection down", "err", err, "unanswered", len(pending))
	}
	if c.sock != nil {
		_ = c.sock.CloseWrite()
		_ = c.sock.CloseRead()
	}
	for _, p := range pending {
		p.done(nil, err)
	}
	if notify != nil {
		notify()
	}
}

// Revoke ends the share at once: the server sees the connection close (and exits), requests in flight fail, and
// every later one fails without reaching it.
func (c *Conn) Revoke() {
	c.fail(ErrRevoked)
}

// Close takes the connection down, waits for its goroutines and releases the socket.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	c.wg.Wait()
	if c.sock == nil {
		return nil
	}
	return c.sock.Close()
}
