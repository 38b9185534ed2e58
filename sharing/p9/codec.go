// Package p9 encodes and decodes 9P2000.L messages. Every message is treated as hostile: sizes are bounded by the
// negotiated msize, counts by the protocol's limits, and strings must be well formed, so a decoded message can be
// used without further length checks.
package p9

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Version is the only protocol dialect spoken.
const Version = "9P2000.L"

// NoTag and NoFid are the protocol's "none" values.
const (
	NoTag uint16 = 0xFFFF
	NoFid uint32 = 0xFFFFFFFF
)

// HeaderSize is size[4] type[1] tag[2].
const HeaderSize = 7

// MinMsize is the smallest msize accepted: room for a header, a walk of MaxWalk short names, and some data.
const MinMsize = 4096

// MaxWalk is the most names one Twalk may carry.
const MaxWalk = 16

// IOHeader is the overhead of Rread/Twrite around their data: header, fid, offset, count.
const IOHeader = HeaderSize + 4 + 8 + 4

// Errors from decoding. A decode error means the message is malformed; the caller answers Rlerror(EINVAL) when the
// tag is known, or drops the connection when the framing itself is broken.
var (
	ErrShort       = errors.New("9p: message shorter than its fields")
	ErrTrailing    = errors.New("9p: bytes left after the message's fields")
	ErrSize        = errors.New("9p: message size out of bounds")
	ErrUnknownType = errors.New("9p: unknown message type")
	ErrBadString   = errors.New("9p: malformed string")
	ErrTooMany     = errors.New("9p: count out of bounds")
)

// Qid identifies a file on the server: its type (QTDIR, ...), a version, and a unique path.
type Qid struct {
	Type    uint8
	Version uint32
	Path    uint64
}

// Qid types.
const (
	QTDIR     uint8 = 0x80
	QTAPPEND  uint8 = 0x40
	QTEXCL    uint8 = 0x20
	QTAUTH    uint8 = 0x08
	QTSYMLINK uint8 = 0x02
	QTFILE    uint8 = 0x00
)

// QidSize is the encoded size of a Qid.
const QidSize = 13

// decoder reads fields from one message body; the first failure sticks and later reads return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = ErrShort
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if v := d.take(2); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

// str reads len[2] bytes; strings never contain NUL (the host's system calls would truncate them).
func (d *decoder) str() string {
	n := d.u16()
	v := d.take(int(n))
	if d.err != nil {
		return ""
	}
	for _, c := range v {
		if c == 0 {
			d.err = ErrBadString
			return ""
		}
	}
	return string(v)
}

func (d *decoder) qid() Qid {
	return Qid{Type: d.u8(), Version: d.u32(), Path: d.u64()}
}

// data reads count[4] then that many bytes, which alias the message buffer.
func (d *decoder) data() []byte {
	n := d.u32()
	if d.err == nil && uint64(n) > uint64(len(d.b)) {
		d.err = ErrShort
		return nil
	}
	return d.take(int(n))
}

// encoder appends fields to a buffer.
type encoder struct{ b []byte }

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = binary.LittleEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }

func (e *encoder) str(s string) {
	if len(s) > 0xFFFF {
		s = s[:0xFFFF]
	}
	e.u16(uint16(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) qid(q Qid) {
	e.u8(q.Type)
	e.u32(q.Version)
	e.u64(q.Path)
}

func (e *encoder) data(p []byte) {
	e.u32(uint32(len(p)))
	e.b = append(e.b, p...)
}

// Msg is one 9P message body.
type Msg interface {
	Type() uint8
	encode(*encoder)
	decode(*decoder)
}

// Marshal encodes a whole message: size, type, tag, body.
func Marshal(tag uint16, m Msg) []byte {
	e := encoder{b: make([]byte, HeaderSize, 64)}
	m.encode(&e)
	binary.LittleEndian.PutUint32(e.b[0:], uint32(len(e.b)))
	e.b[4] = m.Type()
	binary.LittleEndian.PutUint16(e.b[5:], tag)
	return e.b
}

// WriteMsg encodes a message and writes it in one call.
func WriteMsg(w io.Writer, tag uint16, m Msg) error {
	_, err := w.Write(Marshal(tag, m))
	return err
}

// DecodeError is a message whose framing was sound but whose body was not: the caller can still answer its tag.
type DecodeError struct {
	Tag  uint16
	Type uint8
	Err  error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("9p: message type %d tag %d: %v", e.Type, e.Tag, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// ReadMsg reads one message of at most msize bytes. A framing error (bad size, short read) is returned plainly: the
// stream cannot be trusted after it. A body error is a *DecodeError carrying the tag.
func ReadMsg(r io.Reader, msize uint32) (uint16, Msg, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	size := binary.LittleEndian.Uint32(hdr[:])
	if size < HeaderSize || size > msize {
		return 0, nil, fmt.Errorf("%w: %d (msize %d)", ErrSize, size, msize)
	}
	buf := make([]byte, size)
	copy(buf, hdr[:])
	if _, err := io.ReadFull(r, buf[4:]); err != nil {
		return 0, nil, fmt.Errorf("9p: reading a %d-byte message: %w", size, err)
	}
	return Unmarshal(buf)
}

// Unmarshal decodes one whole message (size field included) from buf, whose length must match that field.
func Unmarshal(buf []byte) (uint16, Msg, error) {
	if len(buf) < HeaderSize {
		return 0, nil, ErrShort
	}
	if binary.LittleEndian.Uint32(buf) != uint32(len(buf)) {
		return 0, nil, ErrSize
	}
	typ := buf[4]
	tag := binary.LittleEndian.Uint16(buf[5:])
	m := newMsg(typ)
	if m == nil {
		return tag, nil, &DecodeError{Tag: tag, Type: typ, Err: ErrUnknownType}
	}
	d := decoder{b: buf[HeaderSize:]}
	m.decode(&d)
	if d.err == nil && len(d.b) != 0 {
		d.err = ErrTrailing
	}
	if d.err != nil {
		return tag, nil, &DecodeError{Tag: tag, Type: typ, Err: d.err}
	}
	return tag, m, nil
}

// ValidName says whether s may name one directory entry: not empty, not "." or "..", no '/' and no NUL.
func ValidName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] == 0 {
			return false
		}
	}
	return true
}
