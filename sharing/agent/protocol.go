// Package agent is the framed protocol spoken between paddock-agent in a guest and the host over the virtio-console
// port PortName, and the guest side of it. Every frame is a fixed 16-byte header followed by a body:
//
//	offset 0  magic "PDAG"
//	       4  version (1)
//	       5  type
//	       6  flags (0)
//	       8  sequence number, little-endian u32 (a reply carries its request's)
//	      12  body length, little-endian u32
//
// The receiving side treats everything it reads as hostile: see Decoder.
package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// PortName is the virtio-console port the agent speaks on; the guest sees it as DevicePath.
const (
	PortName   = "org.paddock.agent.0"
	DevicePath = "/dev/virtio-ports/" + PortName
)

// Protocol constants.
const (
	Magic      = "PDAG"
	Version    = 1
	HeaderSize = 16
	// DefaultMaxBody is the largest body a side accepts unless it says otherwise (the clipboard's default cap).
	DefaultMaxBody = 1 << 20
	// CeilingBody is the largest length either side ever reads past; a header declaring more ends the connection.
	CeilingBody = 64 << 20
	// MaxAgentVersion bounds the version text in HELLO.
	MaxAgentVersion = 64
	// MaxReason bounds an ERROR's reason.
	MaxReason = 256
)

// Type is a frame's type.
type Type uint8

// Frame types. HELLO opens a connection in both directions; requests (CLIP_OFFER, CLIP_REQUEST, CLIP_SET) are
// answered by ACK, CLIP_DATA or ERROR carrying the request's sequence number.
const (
	TypeHello       Type = 1 // body: Hello
	TypeClipOffer   Type = 2 // guest to host: UTF-8 text for the host clipboard; answered by ACK or ERROR
	TypeClipData    Type = 3 // UTF-8 text answering a CLIP_REQUEST
	TypeClipRequest Type = 4 // empty body: asks the peer for its clipboard; answered by CLIP_DATA or ERROR
	TypeClipSet     Type = 5 // host to guest: UTF-8 text for the guest clipboard; answered by ACK or ERROR
	TypeAck         Type = 6 // empty body
	TypeError       Type = 7 // body: a UTF-8 reason
)

func (t Type) String() string {
	switch t {
	case TypeHello:
		return "HELLO"
	case TypeClipOffer:
		return "CLIP_OFFER"
	case TypeClipData:
		return "CLIP_DATA"
	case TypeClipRequest:
		return "CLIP_REQUEST"
	case TypeClipSet:
		return "CLIP_SET"
	case TypeAck:
		return "ACK"
	case TypeError:
		return "ERROR"
	}
	return fmt.Sprintf("type %d", uint8(t))
}

func (t Type) known() bool { return t >= TypeHello && t <= TypeError }

// isReply says whether a frame of this type answers a request.
func (t Type) isReply() bool { return t == TypeAck || t == TypeError || t == TypeClipData }

// isText says whether the body must be UTF-8 text.
func (t Type) isText() bool {
	return t == TypeClipOffer || t == TypeClipData || t == TypeClipSet || t == TypeError
}

// Frame is one message.
type Frame struct {
	Type Type
	Seq  uint32
	Body []byte
}

// Capabilities a side announces in HELLO.
const (
	CapClipboard uint32 = 1 << 0
)

// Hello is the body of a HELLO frame: what the sender can do and the largest body it accepts.
type Hello struct {
	Capabilities uint32
	MaxBody      uint32
	AgentVersion string // e.g. "paddock-agent 1.0"; the host sends "paddock"
}

const helloFixed = 8

// Marshal encodes the HELLO body.
func (h Hello) Marshal() []byte {
	b := make([]byte, helloFixed, helloFixed+len(h.AgentVersion))
	binary.LittleEndian.PutUint32(b[0:], h.Capabilities)
	binary.LittleEndian.PutUint32(b[4:], h.MaxBody)
	return append(b, h.AgentVersion...)
}

// ParseHello decodes and checks a HELLO body.
func ParseHello(b []byte) (Hello, error) {
	if len(b) < helloFixed || len(b) > helloFixed+MaxAgentVersion {
		return Hello{}, fmt.Errorf("%w: HELLO of %d bytes", ErrMalformed, len(b))
	}
	h := Hello{
		Capabilities: binary.LittleEndian.Uint32(b[0:]),
		MaxBody:      binary.LittleEndian.Uint32(b[4:]),
		AgentVersion: string(b[helloFixed:]),
	}
	if !utf8.ValidString(h.AgentVersion) {
		return Hello{}, fmt.Errorf("%w: HELLO version is not UTF-8", ErrMalformed)
	}
	if h.MaxBody == 0 {
		return Hello{}, fmt.Errorf("%w: HELLO announces a zero maximum", ErrMalformed)
	}
	return h, nil
}

// Errors of the protocol. A *FrameError wraps the ones after which the stream is still in step.
var (
	ErrBadHeader   = errors.New("agent protocol: bad frame header")
	ErrTooLarge    = errors.New("agent protocol: frame body over the maximum")
	ErrUnknownType = errors.New("agent protocol: unknown frame type")
	ErrNotUTF8     = errors.New("agent protocol: text is not UTF-8")
	ErrMalformed   = errors.New("agent protocol: malformed frame")
	ErrRateLimited = errors.New("agent protocol: over the rate limit")
)

// FrameError is a refused frame after which the stream is still in step: the caller may answer with ERROR and
// read on. Body holds what was read (only for ErrNotUTF8 and ErrMalformed), else nil.
type FrameError struct {
	Type   Type
	Seq    uint32
	Length uint32 // declared body length
	Body   []byte
	Err    error
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("%v (%v, seq %d, %d bytes)", e.Err, e.Type, e.Seq, e.Length)
}

func (e *FrameError) Unwrap() error { return e.Err }

// AppendFrame appends f's encoding to dst.
func AppendFrame(dst []byte, f Frame) []byte {
	var h [HeaderSize]byte
	copy(h[:], Magic)
	h[4] = Version
	h[5] = byte(f.Type)
	binary.LittleEndian.PutUint32(h[8:], f.Seq)
	binary.LittleEndian.PutUint32(h[12:], uint32(len(f.Body)))
	return append(append(dst, h[:]...), f.Body...)
}

// WriteFrame writes f in a single Write, refusing a body over max.
func WriteFrame(w io.Writer, f Frame, max uint32) error {
	if uint64(len(f.Body)) > uint64(max) {
		return fmt.Errorf("sending %v: %w (%d > %d bytes)", f.Type, ErrTooLarge, len(f.Body), max)
	}
	if _, err := w.Write(AppendFrame(make([]byte, 0, HeaderSize+len(f.Body)), f)); err != nil {
		return fmt.Errorf("sending %v: %w", f.Type, err)
	}
	return nil
}
