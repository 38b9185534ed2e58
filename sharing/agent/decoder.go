package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Limits bound what a Decoder accepts.
type Limits struct {
	// MaxBody is the largest body accepted (the maximum this side announces in HELLO); 0 means DefaultMaxBody.
	// Larger frames up to CeilingBody are skipped without being stored and refused; beyond that the stream ends.
	MaxBody uint32
	// FramesPerSecond and BytesPerSecond are the sustained rates; 0 means the defaults. Bursts of one second's
	// worth are allowed (and always at least one frame of MaxBody).
	FramesPerSecond float64
	BytesPerSecond  float64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Default rates: far above what a person copying text produces, far below what would keep the host busy.
const (
	DefaultFramesPerSecond = 50
	DefaultBytesPerSecond  = 8 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxBody == 0 {
		l.MaxBody = DefaultMaxBody
	}
	l.MaxBody = min(l.MaxBody, CeilingBody)
	if l.FramesPerSecond <= 0 {
		l.FramesPerSecond = DefaultFramesPerSecond
	}
	if l.BytesPerSecond <= 0 {
		l.BytesPerSecond = DefaultBytesPerSecond
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	return l
}

// bucket is a token bucket.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newBucket(rate, burst float64, now time.Time) bucket {
	return bucket{rate: rate, burst: burst, tokens: burst, last: now}
}

func (b *bucket) refill(now time.Time) {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(b.burst, b.tokens+dt*b.rate)
	}
	b.last = now
}

// Decoder reads frames from an untrusted peer. It never allocates more than MaxBody for a frame, whatever the
// header claims; it checks the magic, version, flags, type, text encoding and the rate limits. Errors that are not
// a *FrameError leave the stream out of step: the Decoder returns the same error from then on.
type Decoder struct {
	r       io.Reader
	limits  Limits
	maxBody atomic.Uint32 // may change while reading (SetMaxBody)
	frames  bucket
	bytes   bucket
	err     error
	scratch [HeaderSize]byte
}

// NewDecoder reads frames from r within limits.
func NewDecoder(r io.Reader, limits Limits) *Decoder {
	limits = limits.withDefaults()
	now := limits.Now()
	d := &Decoder{
		r:      r,
		limits: limits,
		frames: newBucket(limits.FramesPerSecond, max(limits.FramesPerSecond, 1), now),
		bytes:  newBucket(limits.BytesPerSecond, max(limits.BytesPerSecond, float64(limits.MaxBody)+HeaderSize), now),
	}
	d.maxBody.Store(limits.MaxBody)
	return d
}

// MaxBody is the largest body this decoder accepts.
func (d *Decoder) MaxBody() uint32 { return d.maxBody.Load() }

// SetMaxBody changes the largest body accepted (at most CeilingBody, 0 means DefaultMaxBody); it is safe to call
// while another goroutine reads.
func (d *Decoder) SetMaxBody(n uint32) {
	if n == 0 {
		n = DefaultMaxBody
	}
	d.maxBody.Store(min(n, CeilingBody))
}

// Next reads the next frame.
func (d *Decoder) Next() (Frame, error) {
	if d.err != nil {
		return Frame{}, d.err
	}
	f, err := d.next()
	var fe *FrameError
	if err != nil && !errors.As(err, &fe) {
		d.err = err
	}
	return f, err
}

func (d *Decoder) next() (Frame, error) {
	h := d.scratch[:]
	if _, err := io.ReadFull(d.r, h); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, fmt.Errorf("%w: truncated", ErrBadHeader)
		}
		return Frame{}, err // io.EOF between frames is a clean end
	}
	if string(h[0:4]) != Magic || h[4] != Version || binary.LittleEndian.Uint16(h[6:]) != 0 {
		return Frame{}, fmt.Errorf("%w: % x", ErrBadHeader, h[0:8])
	}
	typ, seq, n := Type(h[5]), binary.LittleEndian.Uint32(h[8:]), binary.LittleEndian.Uint32(h[12:])
	if n > CeilingBody {
		return Frame{}, fmt.Errorf("%w: %v declares %d bytes", ErrBadHeader, typ, n)
	}
	refuse := func(err error) (Frame, error) {
		if _, cerr := io.CopyN(io.Discard, d.r, int64(n)); cerr != nil {
			return Frame{}, fmt.Errorf("%w: truncated body: %v", ErrBadHeader, cerr)
		}
		return Frame{}, &FrameError{Type: typ, Seq: seq, Length: n, Err: err}
	}
	now := d.limits.Now()
	d.frames.refill(now)
	d.bytes.burst = max(d.limits.BytesPerSecond, float64(d.MaxBody())+HeaderSize) // one whole frame always fits
	d.bytes.refill(now)
	cost := float64(n) + HeaderSize
	if d.frames.tokens < 1 || d.bytes.tokens < cost {
		return refuse(ErrRateLimited)
	}
	d.frames.tokens--
	d.bytes.tokens -= cost
	switch {
	case !typ.known():
		return refuse(ErrUnknownType)
	case n > d.MaxBody(): // checked before anything is allocated
		return refuse(ErrTooLarge)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(d.r, body); err != nil {
		return Frame{}, fmt.Errorf("%w: truncated body: %v", ErrBadHeader, err)
	}
	f := Frame{Type: typ, Seq: seq, Body: body}
	switch {
	case typ.isText() && !utf8.Valid(body):
		return Frame{}, &FrameError{Type: typ, Seq: seq, Length: n, Body: body, Err: ErrNotUTF8}
	case (typ == TypeAck || typ == TypeClipRequest) && n != 0:
		return Frame{}, &FrameError{Type: typ, Seq: seq, Length: n, Body: body, Err: ErrMalformed}
	case typ == TypeError && n > MaxReason:
		return Frame{}, &FrameError{Type: typ, Seq: seq, Length: n, Body: body, Err: ErrMalformed}
	case typ == TypeHello:
		if _, err := ParseHello(body); err != nil {
			return Frame{}, &FrameError{Type: typ, Seq: seq, Length: n, Body: body, Err: ErrMalformed}
		}
	}
	return f, nil
}
