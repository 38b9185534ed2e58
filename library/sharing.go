package library

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ClipboardMode is which way clipboard text may cross between host and guest.
type ClipboardMode string

const (
	ClipboardOff         ClipboardMode = "off"
	ClipboardHostToGuest ClipboardMode = "host-to-guest"
	ClipboardGuestToHost ClipboardMode = "guest-to-host"
	ClipboardBoth        ClipboardMode = "both"
)

func (m ClipboardMode) valid() bool {
	switch m {
	case ClipboardOff, ClipboardHostToGuest, ClipboardGuestToHost, ClipboardBoth:
		return true
	}
	return false
}

// SharePolicy is a VM's clipboard setting. A new VM has ClipboardOff, 1 MiB, ask.
type SharePolicy struct {
	Clipboard         ClipboardMode
	ClipboardMaxBytes int64 // largest text that may cross, 1 byte to 64 MiB
	ClipboardAsk      bool  // confirm each transfer
}

// Share is a host folder offered to a VM over 9P.
type Share struct {
	ID        int64
	VMID      string
	HostDir   string // absolute, symlinks resolved
	Tag       string // the mount tag the guest uses
	ReadOnly  bool
	Transient bool // until the VM powers off (ClearTransientShares), else kept
}

const shareColumns = `id, vm_id, host_dir, tag, read_only, transient`

func scanShare(r scanner) (Share, error) {
	var s Share
	err := r.Scan(&s.ID, &s.VMID, &s.HostDir, &s.Tag, &s.ReadOnly, &s.Transient)
	return s, err
}

// MaxTagLen bounds a share's mount tag.
const MaxTagLen = 32

func validateTag(tag string) error {
	if tag == "" || len(tag) > MaxTagLen {
		return invalid("tag", "must be 1 to %d characters", MaxTagLen)
	}
	for _, r := range tag {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return invalid("tag", "may contain only letters, digits, '.', '_' and '-' (not %q)", r)
		}
	}
	return nil
}

// SetSharePolicy replaces a VM's clipboard policy.
func (l *Library) SetSharePolicy(ctx context.Context, ref string, p SharePolicy) error {
	if !p.Clipboard.valid() {
		return invalid("clipboard", "unknown mode %q", p.Clipboard)
	}
	if p.ClipboardMaxBytes < 1 || p.ClipboardMaxBytes > MaxClipBytes {
		return invalid("clipboard size", "must be between 1 byte and %d MiB (got %d)", MaxClipBytes>>20, p.ClipboardMaxBytes)
	}
	return l.writeTx(ctx, "changing sharing policy", func(tx *sql.Tx) error {
		vm, err := loadVM(ctx, tx, ref)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO share_policies (vm_id, clipboard, clipboard_max_bytes, clipboard_ask)
			VALUES (?, ?, ?, ?) ON CONFLICT (vm_id) DO UPDATE SET clipboard = excluded.clipboard,
				clipboard_max_bytes = excluded.clipboard_max_bytes, clipboard_ask = excluded.clipboard_ask`,
			vm.ID, string(p.Clipboard), p.ClipboardMaxBytes, p.ClipboardAsk); err != nil {
			return fmt.Errorf("changing sharing policy of VM %q: %w", vm.Name, err)
		}
		return touch(ctx, tx, vm.ID)
	})
}

// AddShare offers a host folder (an existing directory) to a VM under a tag unique to that VM. Its ID is filled in.
func (l *Library) AddShare(ctx context.Context, ref string, s Share) (Share, error) {
	if err := validateTag(s.Tag); err != nil {
		return Share{}, err
	}
	dir, err := checkPath("folder", s.HostDir, false)
	if err != nil {
		return Share{}, err
	}
	if s.HostDir, err = filepath.EvalSymlinks(dir); err != nil {
		return Share{}, invalid("folder", "%s: %v", dir, err)
	}
	if st, err := os.Stat(s.HostDir); err != nil || !st.IsDir() {
		return Share{}, invalid("folder", "%s is not a directory", dir)
	}
	// The data directory holds the library and every VM's disks: no guest gets to see it, nor anything above it.
	if s.HostDir == l.home || strings.HasPrefix(l.home, s.HostDir+string(filepath.Separator)) ||
		s.HostDir == "/" || strings.HasPrefix(s.HostDir, l.home+string(filepath.Separator)) {
		return Share{}, invalid("folder", "%s contains or is inside Paddock's data directory", dir)
	}
	err = l.writeTx(ctx, "adding share", func(tx *sql.Tx) error {
		vm, err := loadVM(ctx, tx, ref)
		if err != nil {
			return err
		}
		s.VMID = vm.ID
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM shares WHERE vm_id = ? AND tag = ?`,
			vm.ID, s.Tag).Scan(&exists); err != nil {
			return fmt.Errorf("adding share to VM %q: %w", vm.Name, err)
		}
		if exists > 0 {
			return invalid("tag", "VM %q already has a share tagged %q", vm.Name, s.Tag)
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO shares (vm_id, host_dir, tag, read_only, transient)
			VALUES (?, ?, ?, ?, ?) RETURNING id`, vm.ID, s.HostDir, s.Tag, s.ReadOnly, s.Transient).Scan(&s.ID); err != nil {
			return fmt.Errorf("adding share to VM %q: %w", vm.Name, err)
		}
		return touch(ctx, tx, vm.ID)
	})
	if err != nil {
		return Share{}, err
	}
	return s, nil
}

// RemoveShare stops offering the share with that tag.
func (l *Library) RemoveShare(ctx context.Context, ref, tag string) error {
	return l.writeTx(ctx, "removing share", func(tx *sql.Tx) error {
		vm, err := loadVM(ctx, tx, ref)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM shares WHERE vm_id = ? AND tag = ?`, vm.ID, tag)
		if err != nil {
			return fmt.Errorf("removing share from VM %q: %w", vm.Name, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return fmt.Errorf("share %q of VM %q: %w", tag, vm.Name, ErrNotFound)
		}
		return touch(ctx, tx, vm.ID)
	})
}

// ClearTransientShares removes a VM's transient shares; call it when the VM powers off.
func (l *Library) ClearTransientShares(ctx context.Context, ref string) error {
	return l.writeTx(ctx, "clearing transient shares", func(tx *sql.Tx) error {
		vm, err := loadVM(ctx, tx, ref)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM shares WHERE vm_id = ? AND transient = 1`, vm.ID)
		if err != nil {
			return fmt.Errorf("clearing transient shares of VM %q: %w", vm.Name, err)
		}
		if n, err := res.RowsAffected(); err == nil && n > 0 {
			return touch(ctx, tx, vm.ID)
		}
		return nil
	})
}
