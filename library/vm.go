package library

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// BootKind is how a VM starts.
type BootKind string

const (
	// BootFirmware starts SeaBIOS, which boots the disks or the ISO in BootOrder.
	BootFirmware BootKind = "firmware"
	// BootDirect loads Kernel (and Initrd) with the Linux boot protocol and passes Cmdline.
	BootDirect BootKind = "direct"
)

// State is the library's record of what a VM was last seen doing. The truth for a running VM is its VMM process;
// this is the bookkeeping the GUI shows when no VMM is there to ask (for instance why it crashed).
type State string

const (
	StateStopped  State = "stopped"
	StateStarting State = "starting"
	StateRunning  State = "running"
	StatePaused   State = "paused"
	StateStopping State = "stopping"
	StateCrashed  State = "crashed"
)

// Active says whether a VMM process may be using the VM's files in this state.
func (s State) Active() bool {
	return s == StateStarting || s == StateRunning || s == StatePaused || s == StateStopping
}

func (s State) valid() bool {
	switch s {
	case StateStopped, StateStarting, StateRunning, StatePaused, StateStopping, StateCrashed:
		return true
	}
	return false
}

// DefaultBootOrder is the boot order of a VM created without one: an installed disk first, then the ISO.
const DefaultBootOrder = "disk,cdrom"

// VMSpec is what a user chooses for a VM.
type VMSpec struct {
	Name      string
	OS        string // detected or chosen label such as "Debian 12"; informational
	CPUs      int
	MemoryMiB int
	Boot      BootKind // empty means BootFirmware
	Kernel    string   // BootDirect: absolute path of the kernel image (required)
	Initrd    string   // BootDirect: absolute path of the initrd, or empty
	Cmdline   string   // BootDirect: kernel command line
	ISO       string   // absolute path of the ISO in the CD-ROM drive, or empty
	BootOrder string   // comma-separated "disk" and "cdrom"; empty means DefaultBootOrder
	// ScreenWidth and ScreenHeight are the guest resolution; both 0 means follow the host display.
	ScreenWidth, ScreenHeight int
}

// VM is one VM of the library, with its disks and sharing settings.
type VM struct {
	ID string
	VMSpec
	Created time.Time
	Updated time.Time // last change to the VM's configuration
	// Version counts configuration changes; pass it as VMUpdate.ExpectVersion to refuse a lost update.
	Version      int64
	State        State
	StateChanged time.Time
	LastError    string // why the VM last failed or crashed, or empty
	Disks        []Disk // in device order: the first is the boot disk
	Sharing      SharePolicy
	Shares       []Share
}

// normalize validates the shape of a spec (not the files it names) and fills in defaults.
func (s VMSpec) normalize() (VMSpec, error) {
	if err := ValidateName(s.Name); err != nil {
		return s, err
	}
	if err := checkText("os", s.OS, MaxOSLen); err != nil {
		return s, err
	}
	if s.CPUs < MinCPUs || s.CPUs > MaxCPUs {
		return s, invalid("cpus", "must be between %d and %d (got %d)", MinCPUs, MaxCPUs, s.CPUs)
	}
	if s.MemoryMiB < MinMemoryMiB || s.MemoryMiB > MaxMemoryMiB {
		return s, invalid("memory", "must be between %d MiB and %d MiB (got %d)", MinMemoryMiB, MaxMemoryMiB, s.MemoryMiB)
	}
	if s.Boot == "" {
		s.Boot = BootFirmware
	}
	if s.Boot != BootFirmware && s.Boot != BootDirect {
		return s, invalid("boot", "must be %q or %q (got %q)", BootFirmware, BootDirect, s.Boot)
	}
	var err error
	if s.Kernel, err = checkPath("kernel", s.Kernel, s.Boot != BootDirect); err != nil {
		return s, err
	}
	if s.Initrd, err = checkPath("initrd", s.Initrd, true); err != nil {
		return s, err
	}
	if s.ISO, err = checkPath("iso", s.ISO, true); err != nil {
		return s, err
	}
	if err := checkText("cmdline", s.Cmdline, MaxCmdlineLen); err != nil {
		return s, err
	}
	if s.BootOrder, err = normalizeBootOrder(s.BootOrder); err != nil {
		return s, err
	}
	if s.ScreenWidth != 0 || s.ScreenHeight != 0 {
		if s.ScreenWidth < MinScreenW || s.ScreenWidth > MaxScreenSide ||
			s.ScreenHeight < MinScreenH || s.ScreenHeight > MaxScreenSide {
			return s, invalid("screen", "must be 0x0 (follow the host display) or between %dx%d and %dx%d (got %dx%d)",
				MinScreenW, MinScreenH, MaxScreenSide, MaxScreenSide, s.ScreenWidth, s.ScreenHeight)
		}
	}
	return s, nil
}

func normalizeBootOrder(order string) (string, error) {
	if strings.TrimSpace(order) == "" {
		return DefaultBootOrder, nil
	}
	var items []string
	seen := map[string]bool{}
	for _, it := range strings.Split(order, ",") {
		it = strings.ToLower(strings.TrimSpace(it))
		if it != "disk" && it != "cdrom" {
			return "", invalid("boot order", "items must be \"disk\" or \"cdrom\" (got %q)", it)
		}
		if seen[it] {
			return "", invalid("boot order", "lists %q twice", it)
		}
		seen[it] = true
		items = append(items, it)
	}
	return strings.Join(items, ","), nil
}

// checkFiles checks that the files a spec names exist and are regular files, for every path that differs from old:
// a file that moved away since it was chosen must not block an unrelated edit.
func (l *Library) checkFiles(s, old VMSpec) (VMSpec, error) {
	var err error
	if s.Kernel != "" && s.Kernel != old.Kernel {
		if s.Kernel, _, err = checkRegularFile("kernel", s.Kernel); err != nil {
			return s, err
		}
	}
	if s.Initrd != "" && s.Initrd != old.Initrd {
		if s.Initrd, _, err = checkRegularFile("initrd", s.Initrd); err != nil {
			return s, err
		}
	}
	if s.ISO != "" && s.ISO != old.ISO {
		if s.ISO, _, err = checkRegularFile("iso", s.ISO); err != nil {
			return s, err
		}
		if err := l.checkNotLibraryFile("iso", s.ISO); err != nil {
			return s, err
		}
	}
	return s, nil
}

// checkRegularFile resolves symlinks in an absolute path and requires a readable regular file there.
func checkRegularFile(field, p string) (resolved string, size int64, err error) {
	if p, err = checkPath(field, p, false); err != nil {
		return "", 0, err
	}
	resolved, err = filepath.EvalSymlinks(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", 0, invalid(field, "%s does not exist", p)
		}
		return "", 0, fmt.Errorf("%s %s: %w", field, p, err)
	}
	st, err := os.Stat(resolved)
	if err != nil {
		return "", 0, fmt.Errorf("%s %s: %w", field, p, err)
	}
	if !st.Mode().IsRegular() {
		return "", 0, invalid(field, "%s is not a regular file", p)
	}
	return resolved, st.Size(), nil
}

// CreateVM adds a VM to the library, with its directory and every sharing channel off.
func (l *Library) CreateVM(ctx context.Context, spec VMSpec) (VM, error) {
	spec, err := spec.normalize()
	if err != nil {
		return VM{}, err
	}
	if spec, err = l.checkFiles(spec, VMSpec{}); err != nil {
		return VM{}, err
	}
	id, err := newID()
	if err != nil {
		return VM{}, err
	}
	dir := l.VMDir(id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return VM{}, fmt.Errorf("creating VM directory: %w", err)
	}
	err = l.writeTx(ctx, "creating VM", func(tx *sql.Tx) error {
		if err := nameFree(ctx, tx, spec.Name, ""); err != nil {
			return err
		}
		t := now()
		_, err := tx.ExecContext(ctx, `INSERT INTO vms (id, name, os, cpus, memory_mib, boot, kernel, initrd,
				cmdline, iso, boot_order, screen_width, screen_height, created_ms, updated_ms, state, state_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, spec.Name, spec.OS, spec.CPUs, spec.MemoryMiB, string(spec.Boot), spec.Kernel, spec.Initrd,
			spec.Cmdline, spec.ISO, spec.BootOrder, spec.ScreenWidth, spec.ScreenHeight, t, t, string(StateStopped), t)
		if err != nil {
			return fmt.Errorf("creating VM %q: %w", spec.Name, err)
		}
		// Every channel starts off: sharing is something a user turns on, per VM.
		if _, err := tx.ExecContext(ctx, `INSERT INTO share_policies (vm_id) VALUES (?)`, id); err != nil {
			return fmt.Errorf("creating VM %q: sharing policy: %w", spec.Name, err)
		}
		return nil
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return VM{}, err
	}
	return l.GetVM(ctx, id)
}

// nameFree returns ErrNameTaken if a VM other than exceptID is called name (ignoring case).
func nameFree(ctx context.Context, tx *sql.Tx, name, exceptID string) error {
	var other string
	err := tx.QueryRowContext(ctx, `SELECT name FROM vms WHERE name = ? AND id != ?`, name, exceptID).Scan(&other)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("checking name %q: %w", name, err)
	}
	return fmt.Errorf("%w: %q", ErrNameTaken, other)
}

const vmColumns = `id, name, os, cpus, memory_mib, boot, kernel, initrd, cmdline, iso, boot_order, screen_width,
	screen_height, created_ms, updated_ms, version, state, state_ms, last_error`

type scanner interface{ Scan(dest ...any) error }

func scanVM(r scanner) (VM, error) {
	var vm VM
	var boot, state string
	var created, updated, stateMs int64
	err := r.Scan(&vm.ID, &vm.Name, &vm.OS, &vm.CPUs, &vm.MemoryMiB, &boot, &vm.Kernel, &vm.Initrd, &vm.Cmdline,
		&vm.ISO, &vm.BootOrder, &vm.ScreenWidth, &vm.ScreenHeight, &created, &updated, &vm.Version, &state, &stateMs,
		&vm.LastError)
	vm.Boot, vm.State = BootKind(boot), State(state)
	vm.Created, vm.Updated, vm.StateChanged = fromMillis(created), fromMillis(updated), fromMillis(stateMs)
	return vm, err
}

// refWhere is the WHERE clause and argument that find a VM by id or by name.
func refWhere(ref string) (string, string) {
	if low := strings.ToLower(ref); isID(low) {
		return `id = ?`, low
	}
	return `name = ?`, ref
}

// loadVM reads one VM's row (not its disks or sharing) by id or name.
func loadVM(ctx context.Context, tx *sql.Tx, ref string) (VM, error) {
	where, arg := refWhere(ref)
	vm, err := scanVM(tx.QueryRowContext(ctx, `SELECT `+vmColumns+` FROM vms WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return VM{}, fmt.Errorf("VM %q: %w", ref, ErrNotFound)
	}
	if err != nil {
		return VM{}, fmt.Errorf("reading VM %q: %w", ref, err)
	}
	return vm, nil
}

// GetVM returns the VM with that id or name (names match without regard to case).
func (l *Library) GetVM(ctx context.Context, ref string) (VM, error) {
	var vm VM
	err := l.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		if vm, err = loadVM(ctx, tx, ref); err != nil {
			return err
		}
		vms := []VM{vm}
		if err := loadDetails(ctx, tx, vms, vm.ID); err != nil {
			return err
		}
		vm = vms[0]
		return nil
	})
	return vm, err
}

// ListVMs returns every VM, sorted by name.
func (l *Library) ListVMs(ctx context.Context) ([]VM, error) {
	var vms []VM
	err := l.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+vmColumns+` FROM vms ORDER BY name, id`)
		if err != nil {
			return fmt.Errorf("listing VMs: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			vm, err := scanVM(rows)
			if err != nil {
				return fmt.Errorf("listing VMs: %w", err)
			}
			vms = append(vms, vm)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("listing VMs: %w", err)
		}
		return loadDetails(ctx, tx, vms, "")
	})
	return vms, err
}

// loadDetails fills in disks, sharing policy and shares of vms: of the one VM onlyID, or of all when it is empty.
func loadDetails(ctx context.Context, tx *sql.Tx, vms []VM, onlyID string) error {
	index := make(map[string]int, len(vms))
	for i := range vms {
		index[vms[i].ID] = i
		vms[i].Sharing = SharePolicy{Clipboard: ClipboardOff, ClipboardMaxBytes: DefaultMaxClip, ClipboardAsk: true}
	}
	filter, args := "", []any{}
	if onlyID != "" {
		filter, args = ` WHERE vm_id = ?`, []any{onlyID}
	}

	rows, err := tx.QueryContext(ctx, `SELECT `+diskColumns+` FROM disks`+filter+` ORDER BY vm_id, position`, args...)
	if err != nil {
		return fmt.Errorf("reading disks: %w", err)
	}
	for rows.Next() {
		d, err := scanDisk(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("reading disks: %w", err)
		}
		if i, ok := index[d.VMID]; ok {
			vms[i].Disks = append(vms[i].Disks, d)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading disks: %w", err)
	}

	rows, err = tx.QueryContext(ctx, `SELECT vm_id, clipboard, clipboard_max_bytes, clipboard_ask
		FROM share_policies`+filter, args...)
	if err != nil {
		return fmt.Errorf("reading sharing policies: %w", err)
	}
	for rows.Next() {
		var id string
		var p SharePolicy
		if err := rows.Scan(&id, &p.Clipboard, &p.ClipboardMaxBytes, &p.ClipboardAsk); err != nil {
			rows.Close()
			return fmt.Errorf("reading sharing policies: %w", err)
		}
		if i, ok := index[id]; ok {
			vms[i].Sharing = p
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading sharing policies: %w", err)
	}

	rows, err = tx.QueryContext(ctx, `SELECT `+shareColumns+` FROM shares`+filter+` ORDER BY vm_id, tag`, args...)
	if err != nil {
		return fmt.Errorf("reading shares: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		s, err := scanShare(rows)
		if err != nil {
			return fmt.Errorf("reading shares: %w", err)
		}
		if i, ok := index[s.VMID]; ok {
			vms[i].Shares = append(vms[i].Shares, s)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading shares: %w", err)
	}
	return nil
}

// VMUpdate changes some fields of a VM: nil fields stay as they are. With ExpectVersion set, the update applies
// only if the VM's Version is still that (so an edit dialog does not overwrite a change made elsewhere meanwhile:
// ErrConflict).
type VMUpdate struct {
	ExpectVersion int64

	Name         *string
	OS           *string
	CPUs         *int
	MemoryMiB    *int
	Boot         *BootKind
	Kernel       *string
	Initrd       *string
	Cmdline      *string
	BootOrder    *string
	ScreenWidth  *int
	ScreenHeight *int
}

func (u VMUpdate) apply(s VMSpec) VMSpec {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	setInt := func(dst *int, src *int) {
		if src != nil {
			*dst = *src
		}
	}
	set(&s.Name, u.Name)
	set(&s.OS, u.OS)
	setInt(&s.CPUs, u.CPUs)
	setInt(&s.MemoryMiB, u.MemoryMiB)
	if u.Boot != nil {
		s.Boot = *u.Boot
	}
	set(&s.Kernel, u.Kernel)
	set(&s.Initrd, u.Initrd)
	set(&s.Cmdline, u.Cmdline)
	set(&s.BootOrder, u.BootOrder)
	setInt(&s.ScreenWidth, u.ScreenWidth)
	setInt(&s.ScreenHeight, u.ScreenHeight)
	return s
}

// UpdateVM changes a VM's configuration. A running VM keeps the configuration it started with until it restarts.
func (l *Library) UpdateVM(ctx context.Context, ref string, u VMUpdate) (VM, error) {
	var id string
	err := l.writeTx(ctx, "updating VM", func(tx *sql.Tx) error {
		vm, err := loadVM(ctx, tx, ref)
		if err != nil {
			return err
		}
		id = vm.ID
		if u.ExpectVersion != 0 && u.ExpectVersion != vm.Version {
			return fmt.Errorf("VM %q: %w", vm.Name, ErrConflict)
		}
		spec, err := u.apply(vm.VMSpec).normalize()
		if err != nil {
			return err
		}
		if spec, err = l.checkFiles(spec, vm.VMSpec); err != nil {
			return err
		}
		if spec == vm.VMSpec {
			return nil // nothing changed: keep the version, so other editors see no conflict
		}
		if err := nameFree(ctx, tx, spec.Name, vm.ID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE vms SET name = ?, os = ?, cpus = ?, memory_mib = ?, boot = ?, kernel = ?,
				initrd = ?, cmdline = ?, iso = ?, boot_order = ?, screen_width = ?, screen_height = ?,
				updated_ms = ?, version = version + 1
			WHERE id = ?`,
			spec.Name, spec.OS, spec.CPUs, spec.MemoryMiB, string(spec.Boot), spec.Kernel, spec.Initrd, spec.Cmdline,
			spec.ISO, spec.BootOrder, spec.ScreenWidth, spec.ScreenHeight, now(), vm.ID)
		if err != nil {
			return fmt.Errorf("updating VM %q: %w", vm.Name, err)
		}
		return nil
	})
	if err != nil {
		return VM{}, err
	}
	return l.GetVM(ctx, id)
}

// RenameVM gives a VM a new name. Changing only the case of the name is allowed.
func (l *Library) RenameVM(ctx context.Context, ref, newName string) (VM, error) {
	return l.UpdateVM(ctx, ref, VMUpdate{Name: &newName})
}

// touch records a configuration change of the VM made by a write other than UpdateVM.
func touch(ctx context.Context, tx *sql.Tx, id string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE vms SET updated_ms = ?, version = version + 1 WHERE id = ?`,
		now(), id); err != nil {
		return fmt.Errorf("recording change of VM %s: %w", id, err)
	}
	return nil
}

// SetState records what a VM is doing and, in lastError, why it last failed ("" clears it). It does not count as
// a configuration change.
func (l *Library) SetState(ctx context.Context, ref string, state State, lastError string) error {
	if !state.valid() {
		return invalid("state", "unknown state %q", state)
	}
	lastError = cleanLastError(lastError)
	return l.writeTx(ctx, "recording VM state", func(tx *sql.Tx) error {
		where, arg := refWhere(ref)
		res, err := tx.ExecContext(ctx, `UPDATE vms SET state = ?, state_ms = ?, last_error = ? WHERE `+where,
			string(state), now(), lastError, arg)
		if err != nil {
			return fmt.Errorf("recording state of VM %q: %w", ref, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return fmt.Errorf("VM %q: %w", ref, ErrNotFound)
		}
		return nil
	})
}

// DeleteVM removes a VM from the library and deletes its directory. With keepDisks, the disk images in that
// directory stay (and so does the directory); without, they go too. Disk images elsewhere belong to the user and
// are never deleted, and neither is a file in the directory that another VM still uses. A VM whose recorded state
// is active (a VMM may have its disks open) is refused with ErrRunning: stop it, or record it stopped, first.
func (l *Library) DeleteVM(ctx context.Context, ref string, keepDisks bool) error {
	var id string
	keep := map[string]bool{}
	err := l.writeTx(ctx, "deleting VM", func(tx *sql.Tx) error {
		vm, err := loadVM(ctx, tx, ref)
		if err != nil {
			return err
		}
		if vm.State.Active() {
			return fmt.Errorf("deleting VM %q: %w (state %s)", vm.Name, ErrRunning, vm.State)
		}
		id = vm.ID
		dir := l.VMDir(id) + string(filepath.Separator)
		// Files in this VM's directory that another VM refers to, and with keepDisks this VM's own disks.
		rows, err := tx.QueryContext(ctx, `
			SELECT path FROM disks WHERE (vm_id != ?1 OR ?2) AND substr(path, 1, length(?3)) = ?3
			UNION SELECT iso FROM vms WHERE id != ?1 AND substr(iso, 1, length(?3)) = ?3`, id, keepDisks, dir)
		if err != nil {
			return fmt.Errorf("deleting VM %q: %w", vm.Name, err)
		}
		defer rows.Close()
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				return fmt.Errorf("deleting VM %q: %w", vm.Name, err)
			}
			keep[filepath.Clean(p)] = true
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("deleting VM %q: %w", vm.Name, err)
		}
		// Cascades to disks, the sharing policy and shares; audit rows keep the name and lose the id.
		if _, err := tx.ExecContext(ctx, `DELETE FROM vms WHERE id = ?`, id); err != nil {
			return fmt.Errorf("deleting VM %q: %w", vm.Name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := removeVMDir(l.VMDir(id), keep, keepDisks); err != nil {
		return fmt.Errorf("VM deleted from the library, but removing its files failed: %w", err)
	}
	return nil
}

// removeVMDir deletes everything in dir except the paths in keep (and, with keepImages, every image CreateDisk
// made, attached or not), then dir itself if it is left empty.
func removeVMDir(dir string, keep map[string]bool, keepImages bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	kept := 0
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if keep[p] || keepImages && e.Type().IsRegular() && isDiskImageName(e.Name()) {
			kept++
			continue
		}
		// RemoveAll does not follow symlinks: a link in the directory goes, what it points at stays.
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	if kept == 0 && len(errs) == 0 {
		if err := os.Remove(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
