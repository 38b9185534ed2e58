package library

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SetDiskReadOnly makes a VM's disk read-only or writable again, keeping its place among the VM's disks. Making
// it writable is refused (ErrDiskInUse) while another VM has the same image attached. The VM must not be running:
// its VMM opened the image one way or the other at start.
func (l *Library) SetDiskReadOnly(ctx context.Context, ref, diskID string, readOnly bool) error {
	return l.writeTx(ctx, "changing disk mode", func(tx *sql.Tx) error {
		vm, err := loadVM(ctx, tx, ref)
		if err != nil {
			return err
		}
		if vm.State.Active() {
			return fmt.Errorf("changing a disk of VM %q: %w", vm.Name, ErrRunning)
		}
		var path string
		var current bool
		err = tx.QueryRowContext(ctx, `SELECT path, read_only FROM disks WHERE id = ? AND vm_id = ?`,
			diskID, vm.ID).Scan(&path, &current)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("disk %s of VM %q: %w", diskID, vm.Name, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("changing a disk of VM %q: %w", vm.Name, err)
		}
		if current == readOnly {
			return nil
		}
		if !readOnly {
			var others string
			err := tx.QueryRowContext(ctx, `SELECT v.name FROM disks d JOIN vms v ON v.id = d.vm_id
				WHERE d.path = ? AND d.vm_id != ? LIMIT 1`, path, vm.ID).Scan(&others)
			if err == nil {
				return fmt.Errorf("%w: %s is attached to VM %q too; an image may be shared only read-only by all",
					ErrDiskInUse, path, others)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("checking disk %s: %w", path, err)
			}
			if err := checkRawImage(path, false); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE disks SET read_only = ? WHERE id = ?`, readOnly, diskID); err != nil {
			return fmt.Errorf("changing a disk of VM %q: %w", vm.Name, err)
		}
		return touch(ctx, tx, vm.ID)
	})
}
