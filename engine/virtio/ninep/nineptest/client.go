// Package nineptest drives a virtio-9p device from Go the way Linux's 9pnet_virtio transport does, and speaks
// 9P2000.L through it: tests of the device and of the share server behind it use it as their guest.
package nineptest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"paddock/engine/virtio"
	"paddock/engine/virtio/ninep"
	"paddock/engine/virtio/virtiotest"
	"paddock/sharing/p9"
)

// Msize is the message size the client asks for.
const Msize = 128 << 10

// Slots is how many requests the client can have in flight at once (Pipeline).
const Slots = 8

// Client is a guest's 9P client on one virtio-9p device.
type Client struct {
	M       *virtiotest.Machine
	Driver  *virtiotest.Driver
	Q       *virtiotest.Queue
	Timeout time.Duration // how long a request may take before it counts as hung

	fn    *virtio.PCI
	slots [Slots]struct{ req, resp uint64 }
	tag   uint16
}

// Attach puts dev on a fresh test machine, brings it up as a driver would (features, MSI-X, one queue,
// DRIVER_OK) and returns a client for it. Close releases it.
func Attach(dev *ninep.Device) (*Client, error) {
	m, err := virtiotest.NewMachine(8 << 20)
	if err != nil {
		return nil, err
	}
	fn, d, err := m.Attach(dev)
	if err != nil {
		return nil, err
	}
	c := &Client{M: m, Driver: d, fn: fn, Timeout: 10 * time.Second}
	if err := d.Setup(virtio.FeatureVersion1|virtio.FeatureRingIndirectDesc|ninep.FeatureMountTag, 1); err != nil {
		fn.Close()
		return nil, err
	}
	c.Q = d.Queues[0]
	for i := range c.slots {
		if c.slots[i].req, err = m.Alloc(Msize, 4096); err != nil {
			fn.Close()
			return nil, err
		}
		if c.slots[i].resp, err = m.Alloc(Msize, 4096); err != nil {
			fn.Close()
			return nil, err
		}
	}
	return c, nil
}

// Close removes the device from the machine (closing it, not its connection).
func (c *Client) Close() error { return c.fn.Close() }

// MountTag reads the tag from the device configuration, as the guest's mount does.
func (c *Client) MountTag() string {
	n := int(c.Driver.DeviceConfigRead(0, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(c.Driver.DeviceConfigRead(uint32(2+i), 1))
	}
	return string(b)
}

// Exchange sends raw as a request in slot 0's buffers, offering room writable bytes for the answer, and returns
// the bytes the device wrote.
func (c *Client) Exchange(raw []byte, room uint32) ([]byte, error) {
	if len(raw) > Msize || room > Msize {
		return nil, fmt.Errorf("nineptest: %d-byte request or %d-byte room beyond %d", len(raw), room, Msize)
	}
	s := c.slots[0]
	copy(c.M.RAM[s.req:], raw)
	bufs := []virtiotest.Buf{{Addr: s.req, Len: uint32(len(raw))}, {Addr: s.resp, Len: room, Write: true}}
	if len(raw) == 0 {
		bufs = bufs[1:]
	}
	if room == 0 {
		bufs = bufs[:1]
	}
	n, err := c.Q.Submit(bufs, c.Timeout)
	if err != nil {
		return nil, err
	}
	if n > room {
		return nil, fmt.Errorf("nineptest: device claims %d bytes written into %d", n, room)
	}
	return append([]byte(nil), c.M.RAM[s.resp:s.resp+uint64(n)]...), nil
}

// RPC sends one message and decodes the answer.
func (c *Client) RPC(m p9.Msg) (p9.Msg, error) {
	c.tag++
	tag := c.tag
	raw, err := c.Exchange(p9.Marshal(tag, m), Msize)
	if err != nil {
		return nil, err
	}
	return decode(raw, tag)
}

func decode(raw []byte, tag uint16) (p9.Msg, error) {
	if len(raw) < p9.HeaderSize || binary.LittleEndian.Uint32(raw) != uint32(len(raw)) {
		return nil, fmt.Errorf("nineptest: malformed answer % x", raw[:min(len(raw), 16)])
	}
	got, msg, err := p9.Unmarshal(raw)
	if err != nil {
		return nil, fmt.Errorf("nineptest: answer: %w", err)
	}
	if got != tag {
		return nil, fmt.Errorf("nineptest: answer tagged %d, asked %d", got, tag)
	}
	return msg, nil
}

// Pipeline sends up to Slots messages at once, before any is answered, and returns the answers in order.
func (c *Client) Pipeline(msgs []p9.Msg) ([]p9.Msg, error) {
	if len(msgs) > Slots {
		return nil, fmt.Errorf("nineptest: %d messages, at most %d in flight", len(msgs), Slots)
	}
	heads := map[uint16]int{}
	tags := make([]uint16, len(msgs))
	for i, m := range msgs {
		c.tag++
		tags[i] = c.tag
		raw := p9.Marshal(c.tag, m)
		s := c.slots[i]
		copy(c.M.RAM[s.req:], raw)
		head, err := c.Q.Add([]virtiotest.Buf{{Addr: s.req, Len: uint32(len(raw))}, {Addr: s.resp, Len: Msize, Write: true}})
		if err != nil {
			return nil, err
		}
		heads[head] = i
	}
	c.Q.Kick()
	used, err := c.Q.Wait(len(msgs), c.Timeout)
	if err != nil {
		return nil, err
	}
	out := make([]p9.Msg, len(msgs))
	for _, u := range used {
		i, ok := heads[u.Head]
		if !ok {
			return nil, fmt.Errorf("nineptest: unknown head %d used", u.Head)
		}
		s := c.slots[i]
		if out[i], err = decode(c.M.RAM[s.resp:s.resp+uint64(u.Len)], tags[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Errno is the error a message failed with: the Rlerror's code, or EIO for anything that is not a clean answer.
// It is 0 for a successful answer.
func Errno(m p9.Msg, err error) unix.Errno {
	if err != nil {
		return unix.EIO
	}
	if e, ok := m.(*p9.Rlerror); ok {
		return unix.Errno(e.Ecode)
	}
	return 0
}

// Mount negotiates the protocol and attaches fid to the share's root, as the guest's mount does.
func (c *Client) Mount(fid uint32) error {
	r, err := c.RPC(&p9.Tversion{Msize: Msize, Version: p9.Version})
	if err != nil {
		return err
	}
	if v, ok := r.(*p9.Rversion); !ok || v.Version != p9.Version {
		return fmt.Errorf("nineptest: Tversion answered %#v", r)
	}
	if e := Errno(c.RPC(&p9.Tattach{Fid: fid, Afid: p9.NoFid, Uname: "guest", Aname: ""})); e != 0 {
		return fmt.Errorf("nineptest: Tattach: %w", e)
	}
	return nil
}

// Walk walks from fid to newFid through names; a walk that stops short fails with ENOENT.
func (c *Client) Walk(fid, newFid uint32, names ...string) error {
	r, err := c.RPC(&p9.Twalk{Fid: fid, NewFid: newFid, Names: names})
	if e := Errno(r, err); e != 0 {
		return e
	}
	if w, ok := r.(*p9.Rwalk); !ok || len(w.Qids) != len(names) {
		return unix.ENOENT
	}
	return nil
}

// ReadAll opens fid for reading and reads it to the end, Msize at a time.
func (c *Client) ReadAll(fid uint32) ([]byte, error) {
	if e := Errno(c.RPC(&p9.Tlopen{Fid: fid, Flags: unix.O_RDONLY})); e != 0 {
		return nil, e
	}
	var out []byte
	for {
		r, err := c.RPC(&p9.Tread{Fid: fid, Offset: uint64(len(out)), Count: Msize - p9.IOHeader})
		if e := Errno(r, err); e != 0 {
			return out, e
		}
		rr, ok := r.(*p9.Rread)
		if !ok {
			return out, errors.New("nineptest: Tread answered with something else")
		}
		if len(rr.Data) == 0 {
			return out, nil
		}
		out = append(out, rr.Data...)
	}
}
