package control

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// The clipboard channel's operations. The VMM carries the agent's bytes and nothing more: the process that owns
// the host clipboard applies the policy to what crosses.
const (
	// OpSetClipboard sets the clipboard mode (ClipboardArgs) -> ClipboardState. Any mode but off gives the guest
	// the agent port; off removes it and ends any open agent channel at once.
	OpSetClipboard = "set-clipboard"
	// OpClipboardState -> ClipboardState.
	OpClipboardState = "clipboard-state"
	// OpAgentChannel -> ClipboardState, with one end of a stream socket attached that carries the agent port's
	// bytes both ways. One channel at a time: a second is refused while the first is open. Refused while the
	// mode is off.
	OpAgentChannel = "agent-channel"
)

// Clipboard modes, as the library names them.
const (
	ClipboardOff         = "off"
	ClipboardHostToGuest = "host-to-guest"
	ClipboardGuestToHost = "guest-to-host"
	ClipboardBoth        = "both"
)

// ValidClipboardMode says whether mode is one of the clipboard modes.
func ValidClipboardMode(mode string) bool {
	switch mode {
	case ClipboardOff, ClipboardHostToGuest, ClipboardGuestToHost, ClipboardBoth:
		return true
	}
	return false
}

// ClipboardArgs is OpSetClipboard's argument.
type ClipboardArgs struct {
	Mode string `json:"mode"`
}

// ClipboardState is the clipboard channel as the VMM sees it.
type ClipboardState struct {
	Mode string `json:"mode"`
	// PortPlugged: the guest has the agent port (the mode is not off and the VM is running).
	PortPlugged bool `json:"port_plugged"`
	// GuestConnected: a guest program (paddock-agent) has the port open.
	GuestConnected bool `json:"guest_connected"`
	// ChannelOpen: a host process holds the agent channel.
	ChannelOpen bool `json:"channel_open"`
}

// AgentPortName is the virtio-console port paddock-agent speaks on (sharing/agent.PortName).
const AgentPortName = "org.paddock.agent.0"

// ErrClipboardOff refuses an agent channel while the clipboard mode is off.
var ErrClipboardOff = errors.New("the clipboard is off for this VM")

// ErrChannelBusy refuses a second agent channel.
var ErrChannelBusy = errors.New("another program already holds this VM's agent channel")

// SetClipboard sets the VM's clipboard mode.
func (c *Client) SetClipboard(mode string) (ClipboardState, error) {
	var st ClipboardState
	if !ValidClipboardMode(mode) {
		return st, fmt.Errorf("clipboard mode %q: want off, host-to-guest, guest-to-host or both", mode)
	}
	err := c.Call(OpSetClipboard, ClipboardArgs{Mode: mode}, &st)
	return st, err
}

// ClipboardState asks for the clipboard channel's state.
func (c *Client) ClipboardState() (ClipboardState, error) {
	var st ClipboardState
	err := c.Call(OpClipboardState, nil, &st)
	return st, err
}

// AgentChannel opens the agent channel: a byte stream to the guest's agent port. Closing it gives the channel
// back; the VMM ends it when the mode goes off, the guest program closes the port, or the guest reboots (reads
// then return io.EOF).
func (c *Client) AgentChannel() (io.ReadWriteCloser, ClipboardState, error) {
	var st ClipboardState
	fds, err := c.CallFDs(OpAgentChannel, nil, &st)
	if err != nil {
		return nil, st, err
	}
	if len(fds) != 2 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, st, fmt.Errorf("the VM sent %d descriptors for the agent channel, want 2", len(fds))
	}
	return newPipeConn(fds[0], fds[1]), st, nil
}

// AgentChannelFDs are the two pipe ends that come with OpAgentChannel's reply, seen from the receiver: it reads
// the guest's bytes from the first and writes its own to the second. (Pipes, not a socket pair: the VMM makes
// them inside its sandbox, which allows pipe2 and no new sockets.)
const AgentChannelFDs = 2

// pipeConn is the two ends of the agent channel as one stream.
type pipeConn struct {
	r, w *os.File
}

func newPipeConn(rfd, wfd int) *pipeConn {
	// Non-blocking descriptors go through the runtime's poller, so Close also ends a Read blocked on them.
	for _, fd := range []int{rfd, wfd} {
		_ = unix.SetNonblock(fd, true)
	}
	return &pipeConn{r: os.NewFile(uintptr(rfd), "agent channel (from guest)"),
		w: os.NewFile(uintptr(wfd), "agent channel (to guest)")}
}

func (p *pipeConn) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *pipeConn) Close() error                { return errors.Join(p.w.Close(), p.r.Close()) }
