package library

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// AuditEntry is one crossing of a sharing channel, allowed or denied. It records a digest of what crossed, never
// the content.
type AuditEntry struct {
	ID        int64 // assigned by AppendAudit; increases with every entry
	Time      time.Time
	VMID      string // "" once the VM has been deleted
	VMName    string // the VM's name when the entry was written
	Channel   string // e.g. "clipboard", "folder", "keystrokes"
	Direction string // e.g. "host-to-guest", "guest-to-host"
	Bytes     int64
	SHA256    string // lower-case hex digest of the content, or "" when nothing crossed
	Rule      string // which setting decided
	Decision  string // e.g. "allowed", "denied"
}

// Audit decisions.
const (
	DecisionAllowed = "allowed"
	DecisionDenied  = "denied"
)

// Bounds on audit listings.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 10000
)

const auditColumns = `id, time_ms, COALESCE(vm_id, ''), vm_name, channel, direction, bytes, sha256, rule, decision`

func (e AuditEntry) validate() error {
	for _, f := range []struct {
		name, value string
		max         int
		required    bool
	}{
		{"channel", e.Channel, 64, true},
		{"direction", e.Direction, 64, true},
		{"decision", e.Decision, 64, true},
		{"rule", e.Rule, 1024, false},
		{"vm name", e.VMName, 256, false},
	} {
		if f.required && f.value == "" {
			return invalid("audit "+f.name, "is required")
		}
		if err := checkText("audit "+f.name, f.value, f.max); err != nil {
			return err
		}
	}
	if e.Bytes < 0 {
		return invalid("audit bytes", "must not be negative")
	}
	if e.SHA256 != "" {
		if len(e.SHA256) != 64 || strings.Trim(e.SHA256, "0123456789abcdef") != "" {
			return invalid("audit sha256", "must be 64 lower-case hex digits")
		}
	}
	return nil
}

// AppendAudit writes an entry and returns it with its ID (and Time, if it was zero: now). When VMName is empty it
// is filled from the VM. An entry for a VM that no longer exists is still kept, with no VMID: the log loses nothing.
func (l *Library) AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	if err := e.validate(); err != nil {
		return AuditEntry{}, err
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	err := l.writeTx(ctx, "writing audit entry", func(tx *sql.Tx) error {
		var vmID any // NULL unless the VM exists
		if e.VMID != "" {
			vm, err := loadVM(ctx, tx, e.VMID)
			switch {
			case err == nil:
				vmID, e.VMID = vm.ID, vm.ID
				if e.VMName == "" {
					e.VMName = vm.Name
				}
			case errors.Is(err, ErrNotFound):
				if e.VMName == "" {
					e.VMName = e.VMID
				}
				e.VMID = ""
			default:
				return err
			}
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO audit (time_ms, vm_id, vm_name, channel, direction, bytes,
				sha256, rule, decision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			e.Time.UnixMilli(), vmID, e.VMName, e.Channel, e.Direction, e.Bytes, e.SHA256, e.Rule, e.Decision,
		).Scan(&e.ID); err != nil {
			return fmt.Errorf("writing audit entry: %w", err)
		}
		return nil
	})
	if err != nil {
		return AuditEntry{}, err
	}
	e.Time = e.Time.Truncate(time.Millisecond)
	return e, nil
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	// VM is a VM's id or name; "" means every VM. The name of a deleted VM finds the entries it left.
	VM string
	// Limit is how many entries at most: 0 means DefaultAuditLimit; at most MaxAuditLimit.
	Limit int
	// BeforeID, when not 0, returns only entries older than that one: pass the last ID of a page for the next.
	BeforeID int64
}

// ListAudit returns audit entries, newest first.
func (l *Library) ListAudit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	limit := q.Limit
	if limit == 0 {
		limit = DefaultAuditLimit
	}
	if limit < 0 || limit > MaxAuditLimit {
		return nil, invalid("limit", "must be between 1 and %d", MaxAuditLimit)
	}
	before := q.BeforeID
	if before <= 0 {
		before = 1<<63 - 1
	}
	var out []AuditEntry
	err := l.readTx(ctx, func(tx *sql.Tx) error {
		where, args := `id < ?`, []any{before}
		if q.VM != "" {
			vm, err := loadVM(ctx, tx, q.VM)
			switch {
			case err == nil:
				where, args = `vm_id = ? AND id < ?`, []any{vm.ID, before}
			case errors.Is(err, ErrNotFound):
				where, args = `vm_id IS NULL AND vm_name = ? COLLATE NOCASE AND id < ?`, []any{q.VM, before}
			default:
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit WHERE `+where+
			` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
		if err != nil {
			return fmt.Errorf("reading audit log: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var e AuditEntry
			var ms int64
			if err := rows.Scan(&e.ID, &ms, &e.VMID, &e.VMName, &e.Channel, &e.Direction, &e.Bytes, &e.SHA256,
				&e.Rule, &e.Decision); err != nil {
				return fmt.Errorf("reading audit log: %w", err)
			}
			e.Time = time.UnixMilli(ms)
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}
