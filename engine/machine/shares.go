package machine

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"paddock/engine/control"
	"paddock/engine/virtio"
	"paddock/engine/virtio/ninep"
)

// Share is a host folder offered to the guest as a virtio-9p device (mount tag Tag). A share server process,
// jailed to the folder, serves it on the other end of Conn; read-only is enforced there.
type Share struct {
	Tag      string
	ReadOnly bool
	// Conn is the VMM's end of the share server's socket. It stays the caller's, to close after Machine.Close;
	// the machine works on descriptors of its own and, when the share is revoked, shuts the socket down.
	Conn *os.File
}

// sharedFolder is one share's connection, kept across guest resets like the other fixed devices' host ends.
type sharedFolder struct {
	tag      string
	readOnly bool
	conn     *ninep.Conn
}

func validateShares(shares []Share) error {
	seen := map[string]bool{}
	for _, s := range shares {
		if err := ninep.ValidTag(s.Tag); err != nil {
			return fmt.Errorf("share: %w", err)
		}
		if seen[s.Tag] {
			return fmt.Errorf("share: two shares with the tag %q", s.Tag)
		}
		seen[s.Tag] = true
		if s.Conn == nil {
			return fmt.Errorf("share %q: no connection to its share server", s.Tag)
		}
	}
	return nil
}

func newSharedFolders(shares []Share, log *slog.Logger) []*sharedFolder {
	out := make([]*sharedFolder, 0, len(shares))
	for _, s := range shares {
		out = append(out, &sharedFolder{tag: s.Tag, readOnly: s.ReadOnly, conn: ninep.NewConn(s.Conn, log.With("share", s.Tag))})
	}
	return out
}

func closeSharedFolders(folders []*sharedFolder) {
	for _, f := range folders {
		f.conn.Close()
	}
}

// attachShares adds one virtio-9p device per share, except those revoked: a guest that boots after a share was
// revoked does not see it at all.
func (m *Machine) attachShares(add func(virtio.Device, string) error) error {
	for _, f := range m.sharedFolders() {
		if errors.Is(f.conn.Err(), ninep.ErrRevoked) {
			continue
		}
		dev, err := ninep.New(f.tag, f.conn, m.log)
		if err != nil {
			return fmt.Errorf("share %q: %w", f.tag, err)
		}
		if err := add(dev, "share "+f.tag); err != nil {
			return err
		}
	}
	return nil
}

// RevokeShare ends the share with tag at once: its server sees the connection close and exits, and every later
// request from the guest fails with EIO.
func (m *Machine) RevokeShare(tag string) error {
	for _, f := range m.sharedFolders() {
		if f.tag == tag {
			f.conn.Revoke()
			m.log.Info("share revoked", "share", tag)
			return nil
		}
	}
	return fmt.Errorf("no share with the tag %q", tag)
}

func (m *Machine) handleRevokeShare(args json.RawMessage) (any, error) {
	var a control.RevokeShareArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	return nil, m.RevokeShare(a.Tag)
}

// Shares lists the VM's folder shares and whether each is still served.
func (m *Machine) Shares() []control.ShareState {
	folders := m.sharedFolders()
	out := make([]control.ShareState, 0, len(folders))
	for _, f := range folders {
		out = append(out, control.ShareState{Tag: f.tag, ReadOnly: f.readOnly, Revoked: errors.Is(f.conn.Err(), ninep.ErrRevoked)})
	}
	return out
}

// sharedFolders is the VM's shares as they are now.
func (m *Machine) sharedFolders() []*sharedFolder {
	m.legacy.sharesMu.Lock()
	defer m.legacy.sharesMu.Unlock()
	return append([]*sharedFolder(nil), m.legacy.shares...)
}

// AddShare adds a folder share to the running VM. A virtio device cannot appear in a running guest (there is no
// PCI hotplug here), so the guest finds it from its next boot (a reboot will do); a revoked share's tag may be
// used again. The machine takes s.Conn over.
func (m *Machine) AddShare(s Share) error {
	if err := ninep.ValidTag(s.Tag); err != nil {
		s.Conn.Close()
		return fmt.Errorf("share: %w", err)
	}
	m.legacy.sharesMu.Lock()
	defer m.legacy.sharesMu.Unlock()
	kept := m.legacy.shares[:0:0]
	for _, f := range m.legacy.shares {
		if f.tag == s.Tag {
			if !errors.Is(f.conn.Err(), ninep.ErrRevoked) {
				s.Conn.Close()
				return fmt.Errorf("share %q is already offered", s.Tag)
			}
			f.conn.Close()
			continue
		}
		kept = append(kept, f)
	}
	folder := newSharedFolders([]Share{s}, m.log)[0]
	s.Conn.Close() // the connection keeps its own descriptor
	m.legacy.shares = append(kept, folder)
	m.log.Info("share added; the guest finds it from its next boot", "share", s.Tag)
	return nil
}

func (m *Machine) handleAddShare(args json.RawMessage, files []*os.File) (any, error) {
	var a control.AddShareArgs
	if err := decodeArgs(args, &a); err != nil {
		for _, f := range files {
			f.Close()
		}
		return nil, err
	}
	if len(files) != 1 {
		for _, f := range files {
			f.Close()
		}
		return nil, errors.New("add-share takes one connection to the share's server")
	}
	return nil, m.AddShare(Share{Tag: a.Tag, ReadOnly: a.ReadOnly, Conn: files[0]})
}
