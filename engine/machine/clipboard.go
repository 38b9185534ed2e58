package machine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"paddock/engine/control"
	"paddock/engine/virtio/console"
)

// agentLink is the clipboard channel's engine side: the agent port exists in the guest only while the clipboard
// mode is not off, and one host process at a time may hold a stream to it. The VMM only carries bytes; the
// process that owns the host clipboard applies the policy to them.
type agentLink struct {
	log *slog.Logger

	mu      sync.Mutex
	mode    string          // "" is off
	cons    *console.Device // the current boot's console, nil between boots
	port    *console.Port   // the agent port while plugged
	session *agentSession
}

// agentSession is one open agent channel: the port's bytes copied to and from a pair of pipes whose other ends
// the holder has.
type agentSession struct {
	link      *agentLink
	port      *console.Port
	fromGuest *os.File // the VMM writes what the guest sent here
	toGuest   *os.File // and reads what goes to the guest from here
	once      sync.Once
}

// SetClipboard sets the clipboard mode: any mode but off gives the guest the agent port, off takes it away and
// ends an open agent channel at once.
func (m *Machine) SetClipboard(mode string) error {
	if !control.ValidClipboardMode(mode) {
		return fmt.Errorf("clipboard mode %q: want off, host-to-guest, guest-to-host or both", mode)
	}
	l := m.agent()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mode = mode
	l.log.Info("clipboard mode", "mode", mode)
	l.applyLocked()
	return nil
}

// agent is the machine's agent link. Its zero value is ready: no boot, mode off.
func (m *Machine) agent() *agentLink {
	l := &m.clip
	l.mu.Lock()
	if l.log == nil {
		l.log = m.log
	}
	l.mu.Unlock()
	return l
}

// applyLocked plugs or unplugs the port to match the mode.
func (l *agentLink) applyLocked() {
	if l.cons == nil {
		return
	}
	on := l.mode != control.ClipboardOff && l.mode != ""
	switch {
	case on && l.port == nil:
		p, err := l.cons.Plug(control.AgentPortName, false)
		if err != nil {
			l.log.Error("clipboard: adding the agent port", "err", err)
			return
		}
		l.port = p
	case !on && l.port != nil:
		if l.session != nil {
			l.session.endLocked()
		}
		if err := l.cons.Unplug(control.AgentPortName); err != nil {
			l.log.Error("clipboard: removing the agent port", "err", err)
		}
		l.port = nil
	}
}

// newConsole makes a boot's virtio console, with the agent port's ID reserved and the port plugged if the mode
// says so; the boot's end ends the agent channel.
func (m *Machine) newConsole(b *boot) (*console.Device, error) {
	cons, err := console.New(console.Options{Output: m.cfg.Console, Ports: []string{control.AgentPortName},
		Unplugged: []string{control.AgentPortName}})
	if err != nil {
		return nil, err
	}
	l := m.agent()
	l.mu.Lock()
	l.cons, l.port = cons, nil
	l.applyLocked()
	l.mu.Unlock()
	b.onClose(func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.cons == cons {
			if l.session != nil {
				l.session.endLocked()
			}
			l.cons, l.port = nil, nil
		}
		return nil
	})
	return cons, nil
}

func (l *agentLink) stateLocked() control.ClipboardState {
	st := control.ClipboardState{Mode: l.mode, PortPlugged: l.port != nil, ChannelOpen: l.session != nil}
	if l.port != nil {
		st.GuestConnected = l.port.GuestConnected()
	}
	return st
}

// ClipboardState reports the clipboard channel's state.
func (m *Machine) ClipboardState() control.ClipboardState {
	l := m.agent()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stateLocked()
}

// openAgentChannel starts a session and returns the holder's pipe ends: read the guest's bytes from the first,
// write to the guest on the second. The caller owns them.
func (m *Machine) openAgentChannel() (fds [2]int, st control.ClipboardState, err error) {
	l := m.agent()
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.mode == control.ClipboardOff || l.mode == "":
		return fds, st, control.ErrClipboardOff
	case l.port == nil:
		return fds, st, errNotRunning
	case l.session != nil:
		return fds, st, control.ErrChannelBusy
	}
	var up, down [2]int // up: guest to holder; down: holder to guest
	if err := unix.Pipe2(up[:], unix.O_CLOEXEC); err != nil {
		return fds, st, fmt.Errorf("agent channel: %w", err)
	}
	if err := unix.Pipe2(down[:], unix.O_CLOEXEC); err != nil {
		unix.Close(up[0])
		unix.Close(up[1])
		return fds, st, fmt.Errorf("agent channel: %w", err)
	}
	// The VMM's ends go through the runtime's poller, so closing them ends the copies blocked on them.
	_ = unix.SetNonblock(up[1], true)
	_ = unix.SetNonblock(down[0], true)
	s := &agentSession{link: l, port: l.port,
		fromGuest: os.NewFile(uintptr(up[1]), "agent channel (from guest)"),
		toGuest:   os.NewFile(uintptr(down[0]), "agent channel (to guest)")}
	if err := l.port.SetHostConnected(true); err != nil {
		s.fromGuest.Close()
		s.toGuest.Close()
		unix.Close(up[0])
		unix.Close(down[1])
		return fds, st, fmt.Errorf("agent channel: %w", err)
	}
	l.session = s
	go s.copy(s.fromGuest, s.port)
	go s.copy(s.port, s.toGuest)
	return [2]int{up[0], down[1]}, l.stateLocked(), nil
}

// copy moves bytes one way until either side ends, then ends the session. Bounded: the port buffers a fixed
// amount and the pipe holds a fixed amount, so a holder that does not read makes the guest's writes wait.
func (s *agentSession) copy(dst io.Writer, src io.Reader) {
	_, err := io.Copy(dst, src)
	if err != nil && !errors.Is(err, os.ErrClosed) && !errors.Is(err, console.ErrClosed) {
		s.link.log.Debug("clipboard: agent channel ended", "err", err)
	}
	s.link.mu.Lock()
	s.endLocked()
	s.link.mu.Unlock()
}

// endLocked ends the session: the guest hears the host hang up, buffered bytes are dropped, and the holder's
// reads end.
func (s *agentSession) endLocked() {
	s.once.Do(func() {
		_ = s.port.SetHostConnected(false)
		s.fromGuest.Close()
		s.toGuest.Close()
		if s.link.session == s {
			s.link.session = nil
		}
	})
}

// handleClipboard serves the clipboard operations; ok is false for any other op.
func (m *Machine) handleClipboard(op string, args json.RawMessage) (res any, ok bool, err error) {
	switch op {
	case control.OpSetClipboard:
		var a control.ClipboardArgs
		if err := decodeArgs(args, &a); err != nil {
			return nil, true, err
		}
		if err := m.SetClipboard(a.Mode); err != nil {
			return nil, true, err
		}
		return m.ClipboardState(), true, nil
	case control.OpClipboardState:
		return m.ClipboardState(), true, nil
	case control.OpAgentChannel:
		fds, st, err := m.openAgentChannel()
		if err != nil {
			return nil, true, err
		}
		return control.WithFDs{Result: st, FDs: fds[:], CloseAfter: true}, true, nil
	}
	return nil, false, nil
}
