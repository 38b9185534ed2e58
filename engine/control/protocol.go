// Package control is the VM control protocol: versioned JSON lines over a unix socket, one socket per running VM.
//
// Every request is one line: {"v":1,"id":N,"op":"status","args":{...}}. Every reply is one line with the same id:
// {"v":1,"id":N,"ok":true,"result":{...}} or {"v":1,"id":N,"ok":false,"error":"..."}. An unknown op, a malformed
// line or a newer protocol version gets an error reply; the connection and the VM carry on.
package control

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Version is the protocol version this build speaks.
const Version = 1

// MaxLine bounds one request line, and MaxReply one reply line (a screenshot travels in one), so a misbehaving
// peer cannot make the other side buffer without end.
const (
	MaxLine  = 1 << 20
	MaxReply = 64 << 20
)

// Request is one call.
type Request struct {
	V    int             `json:"v"`
	ID   uint64          `json:"id"`
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`
	// FDs is how many open files came with the request (SCM_RIGHTS on its first byte).
	FDs int `json:"fds,omitempty"`
}

// Reply answers one Request.
type Reply struct {
	V      int             `json:"v"`
	ID     uint64          `json:"id"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// Operation names.
const (
	OpStatus   = "status"   // -> Status
	OpStop     = "stop"     // press the ACPI power button
	OpPowerOff = "poweroff" // immediate power off
	OpPause    = "pause"    // hold the vCPUs (-> Status)
	OpResume   = "resume"   // let a paused VM run again (-> Status)
	// OpScreenshot -> Screenshot.
	OpScreenshot = "screenshot"
	// OpSendKeys types keys (SendKeysArgs).
	OpSendKeys = "send-keys"
	// OpPointer moves the absolute pointer (PointerArgs).
	OpPointer = "pointer"

	// The display operations a viewer in another process uses (see Console).

	// OpFramebuffer -> FramebufferInfo, with the framebuffer's memfd attached.
	OpFramebuffer = "framebuffer"
	// OpDirtyPages -> DirtyPages: the framebuffer pages written since the last call.
	OpDirtyPages = "dirty-pages"
	// OpKey sends one physical key going down or up (KeyArgs).
	OpKey = "key"
	// OpPointerState sets the pointer's position, buttons and wheel at once (PointerState).
	OpPointerState = "pointer-state"
	// OpSerialInput types bytes into the guest's serial console (SerialInput).
	OpSerialInput = "serial-input"
)

// SerialInput is bytes for the guest's serial console, at most MaxSerialInput at a time.
type SerialInput struct {
	Data []byte `json:"data"`
}

// MaxSerialInput bounds one OpSerialInput.
const MaxSerialInput = 64 << 10

// FramebufferInfo describes the memfd that comes with the reply to OpFramebuffer.
type FramebufferInfo struct {
	Width  int `json:"width"`
	Height int `json:"height"`
	Stride int `json:"stride"`
}

// DirtyPages is a bitmap of framebuffer pages, bit i for page i.
type DirtyPages struct {
	Bitmap []uint64 `json:"bitmap"`
}

// KeyArgs is one key event; Key is a Linux evdev key code.
type KeyArgs struct {
	Key  uint16 `json:"key"`
	Down bool   `json:"down"`
}

// PointerState is the pointer's absolute position in guest pixels, its buttons (bit 0 left, 1 right, 2 middle)
// and wheel steps since the last event.
type PointerState struct {
	X       int   `json:"x"`
	Y       int   `json:"y"`
	Buttons uint8 `json:"buttons"`
	Wheel   int   `json:"wheel"`
}

// Screenshot is the guest screen as a PNG.
type Screenshot struct {
	Width  int    `json:"width"`
	Height int    `json:"height"`
	PNG    []byte `json:"png"`
}

// SendKeysArgs names keys or key combinations ("ctrl+alt+delete", "enter"), each pressed and released in turn,
// or text to type on a US keyboard. Exactly one of the two is set.
type SendKeysArgs struct {
	Keys []string `json:"keys,omitempty"`
	Text string   `json:"text,omitempty"`
}

// PointerArgs puts the pointer at X, Y in guest screen pixels, optionally clicking a button (left, right,
// middle) there, or turning the wheel (positive is up).
type PointerArgs struct {
	X     int    `json:"x"`
	Y     int    `json:"y"`
	Click string `json:"click,omitempty"`
	Wheel int    `json:"wheel,omitempty"`
}

// VM states as reported in Status.
const (
	StateStarting = "starting"
	StateRunning  = "running"
	StatePaused   = "paused"
	StateStopping = "stopping"
	StateStopped  = "stopped"
	StateCrashed  = "crashed"
)

// Status is the reply to OpStatus.
type Status struct {
	Name          string  `json:"name"`
	State         string  `json:"state"`
	PID           int     `json:"pid"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	VCPUs         int     `json:"vcpus"`
	MemoryMiB     int     `json:"memory_mib"`
	CPUModel      string  `json:"cpu_model"`
	Boots         int     `json:"boots"`
	Sandbox       string  `json:"sandbox,omitempty"`
	Error         string  `json:"error,omitempty"`
	// CDROM is the image in the CD-ROM drive, "(empty)", or "" for a VM without a drive.
	CDROM string `json:"cdrom,omitempty"`
	// Boot is what the firmware reported when it found nothing to boot; "" otherwise.
	Boot string `json:"boot,omitempty"`
}

// ErrUnknownOp is returned by a Handler that does not know a request's op.
var ErrUnknownOp = errors.New("unknown request")

// Handler serves requests. It returns the result to encode, or an error to send back. It must not panic on any
// request: args come from whoever can reach the socket.
type Handler interface {
	Handle(op string, args json.RawMessage) (any, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(op string, args json.RawMessage) (any, error)

// Handle calls f.
func (f HandlerFunc) Handle(op string, args json.RawMessage) (any, error) { return f(op, args) }

// RemoteError is an error reply from the other side.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }

func errorReply(id uint64, format string, a ...any) Reply {
	return Reply{V: Version, ID: id, Error: fmt.Sprintf(format, a...)}
}
