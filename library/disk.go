package library

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Disk is a raw disk image attached to a VM.
type Disk struct {
	ID        string
	VMID      string
	Path      string // absolute, symlinks resolved
	SizeBytes int64  // when created or attached
	ReadOnly  bool
	Position  int // 0 is the first disk the guest sees (and the one firmware boots)
}

const diskColumns = `id, vm_id, path, size_bytes, read_only, position`

func scanDisk(r scanner) (Disk, error) {
	var d Disk
	err := r.Scan(&d.ID, &d.VMID, &d.Path, &d.SizeBytes, &d.ReadOnly, &d.Position)
	return d, err
}

// maxDiskIndex bounds the search for a free disk-N.img name.
const maxDiskIndex = 10000

func diskImageName(n int) string { return "disk-" + strconv.Itoa(n) + ".img" }

// isDiskImageName says whether name is one CreateDisk gives its images.
func isDiskImageName(name string) bool {
	n, ok := strings.CutPrefix(name, "disk-")
	if !ok {
		return false
	}
	n, ok = strings.CutSuffix(n, ".img")
	if !ok {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}

// CreateDisk makes a new, empty, sparse raw image of sizeBytes (a multiple of 512 between 1 MiB and 64 TiB) in the
// VM's directory as disk-N.img, and attaches it read-write after the VM's other disks.
func (l *Library) CreateDisk(ctx context.Context, ref string, sizeBytes int64) (Disk, error) {
	if sizeBytes < MinDiskBytes || sizeBytes > MaxDiskBytes {
		return Disk{}, invalid("disk size", "must be between 1 MiB and 64 TiB (got %d bytes)", sizeBytes)
	}
	if sizeBytes%512 != 0 {
		return Disk{}, invalid("disk size", "must be a multiple of 512 bytes (got %d)", sizeBytes)
	}
	vm, err := l.GetVM(ctx, ref)
	if err != nil {
		return Disk{}, err
	}
	dir := l.VMDir(vm.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Disk{}, fmt.Errorf("creating disk: %w", err)
	}
	path, err := createSparseImage(dir, sizeBytes)
	if err != nil {
		return Disk{}, fmt.Errorf("creating disk for VM %q: %w", vm.Name, err)
	}
	d, err := l.insertDisk(ctx, vm.ID, path, sizeBytes, false)
	if err != nil {
		_ = os.Remove(path) // no row refers to it: it would be an orphan
		return Disk{}, err
	}
	return d, nil
}

// createSparseImage makes the image under a temporary name and gives it its final name only once it has its full
// size, so a disk-N.img is never half made. The final name is taken with link(2), which unlike rename never
// replaces an existing file: two processes creating disks at once get different numbers.
func createSparseImage(dir string, size int64) (string, error) {
	tmp, err := os.CreateTemp(dir, ".new-disk-*.tmp") // mode 0600
	if err != nil {
		return "", err
	}
	tmpPath := tmp.Name()
	defer os.Remove(tmpPath)
	// Truncate extends the file without allocating blocks: the image takes no space until the guest writes.
	err = tmp.Truncate(size)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	for n := 0; n < maxDiskIndex; n++ {
		final := filepath.Join(dir, diskImageName(n))
		err := os.Link(tmpPath, final)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if err := syncDir(dir); err != nil {
			_ = os.Remove(final)
			return "", err
		}
		return final, nil
	}
	return "", fmt.Errorf("no free disk name in %s", dir)
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// insertDisk adds the row for an image at the end of the VM's disks.
func (l *Library) insertDisk(ctx context.Context, vmID, path string, size int64, readOnly bool) (Disk, error) {
	id, err := newID()
	if err != nil {
		return Disk{}, err
	}
	d := Disk{ID: id, VMID: vmID, Path: path, SizeBytes: size, ReadOnly: readOnly}
	err = l.writeTx(ctx, "attaching disk", func(tx *sql.Tx) error {
		vm, err := loadVM(ctx, tx, vmID)
		if err != nil {
			return err
		}
		if err := diskUsable(ctx, tx, vm, path, readOnly); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(position) + 1, 0) FROM disks WHERE vm_id = ?`,
			vmID).Scan(&d.Position); err != nil {
			return fmt.Errorf("attaching disk to VM %q: %w", vm.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO disks (`+diskColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			d.ID, d.VMID, d.Path, d.SizeBytes, d.ReadOnly, d.Position); err != nil {
			return fmt.Errorf("attaching disk to VM %q: %w", vm.Name, err)
		}
		return touch(ctx, tx, vmID)
	})
	return d, err
}

// diskUsable refuses a second attachment of one image where a guest could write while another reads or writes:
// two writers on one raw image corrupt it.
func diskUsable(ctx context.Context, tx *sql.Tx, vm VM, path string, readOnly bool) error {
	rows, err := tx.QueryContext(ctx, `SELECT d.vm_id, v.name, d.read_only FROM disks d JOIN vms v ON v.id = d.vm_id
		WHERE d.path = ?`, path)
	if err != nil {
		return fmt.Errorf("checking disk %s: %w", path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var otherID, otherName string
		var otherRO bool
		if err := rows.Scan(&otherID, &otherName, &otherRO); err != nil {
			return fmt.Errorf("checking disk %s: %w", path, err)
		}
		if otherID == vm.ID {
			return fmt.Errorf("%w: %s is already attached to VM %q", ErrDiskInUse, path, vm.Name)
		}
		if !otherRO || !readOnly {
			return fmt.Errorf("%w: %s is attached to VM %q; an image may be shared only read-only by all",
				ErrDiskInUse, path, otherName)
		}
	}
	return rows.Err()
}

// AttachDisk attaches an existing raw image (a regular file) after the VM's other disks. The image stays the
// user's: deleting the VM never deletes it unless it lies in the VM's own directory.
func (l *Library) AttachDisk(ctx context.Context, ref, path string, readOnly bool) (Disk, error) {
	resolved, size, err := checkRegularFile("disk", path)
	if err != nil {
		return Disk{}, err
	}
	if err := l.checkNotLibraryFile("disk", resolved); err != nil {
		return Disk{}, err
	}
	if size == 0 {
		return Disk{}, invalid("disk", "%s is empty", path)
	}
	if err := checkRawImage(resolved, readOnly); err != nil {
		return Disk{}, err
	}
	vm, err := l.GetVM(ctx, ref)
	if err != nil {
		return Disk{}, err
	}
	return l.insertDisk(ctx, vm.ID, resolved, size, readOnly)
}

// checkNotLibraryFile keeps a guest away from the library's own files (the database above all); only images in
// the VMs' directories may come from inside the data directory.
func (l *Library) checkNotLibraryFile(field, resolved string) error {
	inHome := strings.HasPrefix(resolved, l.home+string(filepath.Separator))
	inVMs := strings.HasPrefix(resolved, filepath.Join(l.home, "vms")+string(filepath.Separator))
	if inHome && !inVMs {
		return invalid(field, "%s is one of Paddock's own files", resolved)
	}
	return nil
}

// foreignFormats are image formats a raw-only disk would show the guest as garbage.
var foreignFormats = []struct {
	magic  string
	format string
}{
	{"QFI\xfb", "qcow2"},
	{"KDMV", "VMDK"},
	{"vhdxfile", "VHDX"},
	{"<<< Oracle VM VirtualBox Disk Image >>>", "VDI"},
}

// checkRawImage opens the image as the VM would (so a permission or read-only filesystem problem shows now, not at
// boot) and refuses the container formats Paddock does not read.
func checkRawImage(path string, readOnly bool) error {
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return invalid("disk", "cannot open %s: %v", path, err)
	}
	defer f.Close()
	head := make([]byte, 64)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return invalid("disk", "cannot read %s: %v", path, err)
	}
	head = head[:n]
	for _, ff := range foreignFormats {
		if bytes.HasPrefix(head, []byte(ff.magic)) {
			return invalid("disk", "%s is a %s image; Paddock uses raw images (convert it with "+
				"\"qemu-img convert -O raw\")", path, ff.format)
		}
	}
	return nil
}

// DetachDisk removes a disk from a VM; the image file stays where it is. The remaining disks close up their
// positions.
func (l *Library) DetachDisk(ctx context.Context, ref, diskID string) error {
	_, err := l.detach(ctx, ref, diskID, false)
	return err
}

// DeleteDisk detaches a disk and deletes its image, which must lie in the VM's own directory (an image elsewhere
// is the user's: detach it instead). The VM must not be running.
func (l *Library) DeleteDisk(ctx context.Context, ref, diskID string) error {
	path, err := l.detach(ctx, ref, diskID, true)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("disk detached, but deleting its image failed: %w", err)
	}
	return nil
}

func (l *Library) detach(ctx context.Context, ref, diskID string, deleting bool) (path string, err error) {
	err = l.writeTx(ctx, "detaching disk", func(tx *sql.Tx) error {
		vm, err := loadVM(ctx, tx, ref)
		if err != nil {
			return err
		}
		var pos int
		err = tx.QueryRowContext(ctx, `SELECT path, position FROM disks WHERE id = ? AND vm_id = ?`,
			diskID, vm.ID).Scan(&path, &pos)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("disk %s of VM %q: %w", diskID, vm.Name, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("detaching disk from VM %q: %w", vm.Name, err)
		}
		if deleting {
			if vm.State.Active() {
				return fmt.Errorf("deleting disk of VM %q: %w", vm.Name, ErrRunning)
			}
			if filepath.Dir(path) != l.VMDir(vm.ID) {
				return invalid("disk", "%s is not in the VM's directory; detach it instead", path)
			}
			var others int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM disks WHERE path = ? AND vm_id != ?`,
				path, vm.ID).Scan(&others); err != nil {
				return fmt.Errorf("deleting disk of VM %q: %w", vm.Name, err)
			}
			if others > 0 {
				return fmt.Errorf("deleting disk of VM %q: %w: another VM uses %s", vm.Name, ErrDiskInUse, path)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM disks WHERE id = ?`, diskID); err != nil {
			return fmt.Errorf("detaching disk from VM %q: %w", vm.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE disks SET position = position - 1 WHERE vm_id = ? AND position > ?`,
			vm.ID, pos); err != nil {
			return fmt.Errorf("detaching disk from VM %q: %w", vm.Name, err)
		}
		return touch(ctx, tx, vm.ID)
	})
	return path, err
}

// SetISO puts an ISO image (an existing regular file) in the VM's CD-ROM drive.
func (l *Library) SetISO(ctx context.Context, ref, path string) error {
	resolved, _, err := checkRegularFile("iso", path)
	if err != nil {
		return err
	}
	if err := l.checkNotLibraryFile("iso", resolved); err != nil {
		return err
	}
	return l.setISO(ctx, ref, resolved)
}

// EjectISO empties the VM's CD-ROM drive.
func (l *Library) EjectISO(ctx context.Context, ref string) error {
	return l.setISO(ctx, ref, "")
}

func (l *Library) setISO(ctx context.Context, ref, path string) error {
	return l.writeTx(ctx, "changing ISO", func(tx *sql.Tx) error {
		vm, err := loadVM(ctx, tx, ref)
		if err != nil {
			return err
		}
		if vm.ISO == path {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE vms SET iso = ? WHERE id = ?`, path, vm.ID); err != nil {
			return fmt.Errorf("changing ISO of VM %q: %w", vm.Name, err)
		}
		return touch(ctx, tx, vm.ID)
	})
}
