// Package ninep is the virtio-9p device: a host folder the guest mounts with
// `mount -t 9p -o trans=virtio,version=9p2000.L TAG /mnt`. The device serves no files itself. Each request chain
// holds a T-message in its device-readable buffers; the device checks its framing, forwards it over the share's
// connection to the share server (a separate, jailed process) and copies the R-message it answers into the
// chain's device-writable buffers. The queue is never held up by the server: requests are sent and answered
// asynchronously, a server that has gone away answers every request with Rlerror(EIO), and so does a share once
// revoked.
package ninep

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"golang.org/x/sys/unix"

	"paddock/engine/virtio"
	"paddock/sharing/p9"
)

// Type is the virtio device type of a 9P transport.
const Type = 9

// FeatureMountTag says the device configuration carries the mount tag (VIRTIO_9P_MOUNT_TAG).
const FeatureMountTag = 1 << 0

// MaxTagLen bounds the mount tag.
const MaxTagLen = 64

const (
	queueSize = 128 // Linux's 9p transport asks for no more
	// rlerrorSize is the size of an Rlerror: the least room a chain must offer for any answer.
	rlerrorSize = p9.HeaderSize + 4
)

// ValidTag says whether tag can be a mount tag: 1 to MaxTagLen printable ASCII characters, no spaces.
func ValidTag(tag string) error {
	if tag == "" || len(tag) > MaxTagLen {
		return fmt.Errorf("mount tag %q: must be 1 to %d characters", tag, MaxTagLen)
	}
	for i := 0; i < len(tag); i++ {
		if c := tag[i]; c <= ' ' || c > '~' || c == ',' {
			return fmt.Errorf("mount tag %q: only printable characters, no spaces or commas", tag)
		}
	}
	return nil
}

// Device is a virtio-9p device bound to one share connection.
type Device struct {
	tag    string
	config []byte // tag_len[2] tag[tag_len]
	conn   *Conn
	log    *slog.Logger

	mu     sync.Mutex
	env    *virtio.Env
	gen    uint64     // bumped by every reset, so answers to an earlier driver's requests are dropped
	closed bool       // no more answers are handed to the guest
	done   []*request // answered, waiting for the worker to hand them back
}

var _ virtio.Device = (*Device)(nil)

// request is one chain sent to the server and waiting for its answer.
type request struct {
	gen   uint64
	chain *virtio.Chain
	tag   uint16
	reply []byte
	errno unix.Errno // when there is no reply
}

// New makes a 9P device offering tag over conn. The device does not own conn: a connection outlives guest resets
// and the devices each boot makes, and its owner closes it.
func New(tag string, conn *Conn, log *slog.Logger) (*Device, error) {
	if err := ValidTag(tag); err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, errors.New("9p: no share connection")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := binary.LittleEndian.AppendUint16(nil, uint16(len(tag)))
	d := &Device{tag: tag, config: append(cfg, tag...), conn: conn, log: log.With("share", tag)}
	conn.setNotify(d.kick)
	return d, nil
}

// Tag is the mount tag the guest sees.
func (d *Device) Tag() string { return d.tag }

// Revoke ends the share for good (see Conn.Revoke): every request from now on fails with EIO.
func (d *Device) Revoke() { d.conn.Revoke() }

func (d *Device) Type() uint16         { return Type }
func (d *Device) Features() uint64     { return FeatureMountTag }
func (d *Device) QueueSizes() []uint16 { return []uint16{queueSize} }
func (d *Device) ConfigSize() int      { return len(d.config) }

// ReadConfig reads the tag's length and bytes.
func (d *Device) ReadConfig(offset uint32, data []byte) {
	clear(data)
	if offset < uint32(len(d.config)) {
		copy(data, d.config[offset:])
	}
}

// WriteConfig ignores the write: the configuration is read-only.
func (d *Device) WriteConfig(uint32, []byte) {}

func (d *Device) Activate(env *virtio.Env) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.env = env
	return nil
}

// Reset forgets the driver's requests: answers to them still arrive in order from the server and are dropped.
func (d *Device) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	d.env = nil
	d.done = nil
}

// Close detaches the device from its connection, which stays open for the next boot's device.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.gen++
	d.env = nil
	d.done = nil
	return nil
}

// kick wakes the worker after answers arrived.
func (d *Device) kick() {
	d.mu.Lock()
	env := d.env
	d.mu.Unlock()
	if env != nil {
		env.Kick(0)
	}
}

// answered is called by the connection with a request's reply, or the error that ended the connection.
func (d *Device) answered(r *request, reply []byte, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || r.gen != d.gen {
		return
	}
	r.reply = reply
	if err != nil {
		r.errno = unix.EIO
	}
	d.done = append(d.done, r)
}

// Process hands answered requests back to the guest and sends the new ones, as many as the connection takes.
func (d *Device) Process(queue int) {
	d.mu.Lock()
	env, gen, done := d.env, d.gen, d.done
	d.done = nil
	d.mu.Unlock()
	if env == nil || queue != 0 || env.Queues[0] == nil {
		return
	}
	q := env.Queues[0]
	pushed := false
	for _, r := range done {
		q.Push(r.chain.Head, d.answer(r))
		pushed = true
	}
	for !d.conn.Busy() {
		c := new(virtio.Chain)
		ok, err := q.Next(c)
		if err != nil {
			env.Fail(err)
			return
		}
		if !ok {
			break
		}
		if written, now := d.send(c, gen); now {
			q.Push(c.Head, written)
			pushed = true
		}
	}
	if pushed {
		env.Interrupt(0)
	}
}

// send checks one chain's T-message and forwards it. It reports true, with the bytes written, when the chain is
// answered at once (a malformed message, or a share that is down).
func (d *Device) send(c *virtio.Chain, gen uint64) (uint32, bool) {
	if c.WritableLen < rlerrorSize {
		// No room even for an error: the driver gets its chain back empty.
		d.log.Debug("9p: request with no room for an answer", "writable", c.WritableLen)
		return 0, true
	}
	var hdr [p9.HeaderSize]byte
	if c.CopyFrom(hdr[:], 0) < len(hdr) {
		return lerror(c, p9.NoTag, unix.EINVAL), true
	}
	size := binary.LittleEndian.Uint32(hdr[:])
	tag := binary.LittleEndian.Uint16(hdr[5:])
	if size < p9.HeaderSize || uint64(size) > c.ReadableLen || size > MaxMsize {
		return lerror(c, tag, unix.EINVAL), true
	}
	msg := make([]byte, size)
	c.CopyFrom(msg, 0)
	r := &request{gen: gen, chain: c, tag: tag}
	err := d.conn.Send(msg, func(reply []byte, err error) { d.answered(r, reply, err) })
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, ErrTooBig):
		return lerror(c, tag, unix.EINVAL), true
	case errors.Is(err, ErrBusy):
		return lerror(c, tag, unix.EAGAIN), true
	}
	return lerror(c, tag, unix.EIO), true
}

// answer copies a request's reply into its chain, under the request's own tag, and returns the bytes written.
func (d *Device) answer(r *request) uint32 {
	if r.reply == nil {
		return lerror(r.chain, r.tag, r.errno)
	}
	if uint64(len(r.reply)) > r.chain.WritableLen {
		d.log.Debug("9p: answer larger than the driver's buffers", "size", len(r.reply), "room", r.chain.WritableLen)
		return lerror(r.chain, r.tag, unix.EIO)
	}
	binary.LittleEndian.PutUint16(r.reply[5:], r.tag)
	return uint32(r.chain.CopyTo(r.reply, 0))
}

// lerror writes an Rlerror into c.
func lerror(c *virtio.Chain, tag uint16, e unix.Errno) uint32 {
	return uint32(c.CopyTo(p9.Marshal(tag, &p9.Rlerror{Ecode: uint32(e)}), 0))
}
