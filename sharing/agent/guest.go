package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"unicode/utf8"
)

// AgentVersion is what the guest agent announces in HELLO.
const AgentVersion = "paddock-agent 1"

// Store is the guest's clipboard as the agent keeps it. Keeping a desktop session's clipboard (X11, Wayland) in
// step is a separate job; the agent keeps its own.
type Store interface {
	Get() (string, error)
	Set(text string) error
}

// MemoryStore keeps the clipboard in memory.
type MemoryStore struct {
	mu   sync.Mutex
	text string
}

func (m *MemoryStore) Get() (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.text, nil
}

func (m *MemoryStore) Set(text string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.text = text
	return nil
}

// FileStore keeps the clipboard in a file readable only by its owner, so that scripts in the guest can use it
// while the daemon holds the port. A missing file is an empty clipboard.
type FileStore struct {
	Path    string
	MaxSize int64 // largest file read; 0 means DefaultMaxBody
}

func (f FileStore) Get() (string, error) {
	limit := f.MaxSize
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	file, err := os.Open(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading clipboard: %w", err)
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, limit+1))
	if err != nil {
		return "", fmt.Errorf("reading clipboard: %w", err)
	}
	if int64(len(b)) > limit {
		return "", fmt.Errorf("clipboard file %s is over %d bytes", f.Path, limit)
	}
	return string(b), nil
}

func (f FileStore) Set(text string) error {
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), ".clipboard-*")
	if err != nil {
		return fmt.Errorf("writing clipboard: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return fmt.Errorf("writing clipboard: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing clipboard: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("writing clipboard: %w", err)
	}
	return nil
}

// Guest is the agent's end of the connection. With a Store it answers the host's CLIP_REQUEST and CLIP_SET;
// without one it refuses them (the one-shot commands).
type Guest struct {
	peer  *Peer
	store Store
}

// NewGuest speaks the protocol over rw (the opened DevicePath). Call Run before the other methods.
func NewGuest(rw io.ReadWriter, store Store, limits Limits, log *slog.Logger) *Guest {
	g := &Guest{store: store}
	g.peer = NewPeer(rw, Hello{Capabilities: CapClipboard, AgentVersion: AgentVersion}, limits, g.handle, log)
	return g
}

// Run serves the connection until it ends.
func (g *Guest) Run(ctx context.Context) error { return g.peer.Run(ctx) }

// Host waits for the host's HELLO.
func (g *Guest) Host(ctx context.Context) (Hello, error) { return g.peer.PeerHello(ctx) }

func (g *Guest) handle(_ context.Context, f Frame, refused *FrameError) *Frame {
	if refused != nil {
		return ErrorReply(refused.Seq, refused.Err.Error())
	}
	if g.store == nil {
		return ErrorReply(f.Seq, "the agent is not running as a daemon")
	}
	switch f.Type {
	case TypeClipRequest:
		text, err := g.store.Get()
		switch {
		case err != nil:
			return ErrorReply(f.Seq, err.Error())
		case !utf8.ValidString(text):
			return ErrorReply(f.Seq, "the guest clipboard is not UTF-8 text")
		case uint64(len(text)) > uint64(g.peer.MaxSend()):
			return ErrorReply(f.Seq, fmt.Sprintf("the guest clipboard (%d bytes) is over the host's maximum", len(text)))
		}
		return &Frame{Type: TypeClipData, Seq: f.Seq, Body: []byte(text)}
	case TypeClipSet:
		if err := g.store.Set(string(f.Body)); err != nil {
			return ErrorReply(f.Seq, err.Error())
		}
		return &Frame{Type: TypeAck, Seq: f.Seq}
	}
	return ErrorReply(f.Seq, f.Type.String()+" is not accepted by the agent")
}

// GetHost asks the host for its clipboard text.
func (g *Guest) GetHost(ctx context.Context) (string, error) {
	if _, err := g.peer.PeerHello(ctx); err != nil {
		return "", fmt.Errorf("waiting for the host: %w", err)
	}
	f, err := g.peer.Request(ctx, TypeClipRequest, nil)
	if err != nil {
		return "", fmt.Errorf("getting the host clipboard: %w", err)
	}
	if f.Type != TypeClipData {
		return "", fmt.Errorf("getting the host clipboard: unexpected %v", f.Type)
	}
	return string(f.Body), nil
}

// OfferHost offers text for the host clipboard; the host's policy decides.
func (g *Guest) OfferHost(ctx context.Context, text string) error {
	if !utf8.ValidString(text) {
		return fmt.Errorf("setting the host clipboard: %w", ErrNotUTF8)
	}
	if _, err := g.peer.PeerHello(ctx); err != nil {
		return fmt.Errorf("waiting for the host: %w", err)
	}
	f, err := g.peer.Request(ctx, TypeClipOffer, []byte(text))
	if err != nil {
		return fmt.Errorf("setting the host clipboard: %w", err)
	}
	if f.Type != TypeAck {
		return fmt.Errorf("setting the host clipboard: unexpected %v", f.Type)
	}
	return nil
}

// ClipGet returns the host clipboard over port: "paddock-agent clip get".
func ClipGet(ctx context.Context, port io.ReadWriter, log *slog.Logger) (string, error) {
	g := NewGuest(port, nil, Limits{}, log)
	go g.Run(ctx) //nolint:errcheck // ends with the port
	return g.GetHost(ctx)
}

// ClipSet offers text for the host clipboard over port: "paddock-agent clip set".
func ClipSet(ctx context.Context, port io.ReadWriter, text string, log *slog.Logger) error {
	g := NewGuest(port, nil, Limits{}, log)
	go g.Run(ctx) //nolint:errcheck // ends with the port
	return g.OfferHost(ctx, text)
}

// Daemon answers the host over port until the port ends, keeping the clipboard in store: "paddock-agent daemon".
func Daemon(ctx context.Context, port io.ReadWriter, store Store, log *slog.Logger) error {
	return NewGuest(port, store, Limits{}, log).Run(ctx)
}
