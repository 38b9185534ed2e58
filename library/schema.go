package library

import (
	"context"
	"database/sql"
	"fmt"
)

// migration upgrades the schema from version-1 to version. The list is append-only: a released migration never
// changes, a new schema is a new migration.
type migration struct {
	version int
	about   string
	stmts   []string
}

var migrations = []migration{
	{version: 1, about: "VMs, disks, sharing policies, shares and the audit log", stmts: []string{
		`CREATE TABLE vms (
			id            TEXT PRIMARY KEY NOT NULL,
			name          TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(name) BETWEEN 1 AND 64),
			os            TEXT NOT NULL DEFAULT '',
			cpus          INTEGER NOT NULL CHECK (cpus BETWEEN 1 AND 255),
			memory_mib    INTEGER NOT NULL CHECK (memory_mib >= 64),
			boot          TEXT NOT NULL CHECK (boot IN ('firmware', 'direct')),
			kernel        TEXT NOT NULL DEFAULT '',
			initrd        TEXT NOT NULL DEFAULT '',
			cmdline       TEXT NOT NULL DEFAULT '',
			iso           TEXT NOT NULL DEFAULT '',
			boot_order    TEXT NOT NULL DEFAULT 'disk,cdrom',
			screen_width  INTEGER NOT NULL DEFAULT 0,
			screen_height INTEGER NOT NULL DEFAULT 0,
			created_ms    INTEGER NOT NULL,
			updated_ms    INTEGER NOT NULL,
			version       INTEGER NOT NULL DEFAULT 1,
			state         TEXT NOT NULL DEFAULT 'stopped',
			state_ms      INTEGER NOT NULL DEFAULT 0,
			last_error    TEXT NOT NULL DEFAULT ''
		) STRICT`,
		`CREATE TABLE disks (
			id         TEXT PRIMARY KEY NOT NULL,
			vm_id      TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
			path       TEXT NOT NULL,
			size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),
			read_only  INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1)),
			position   INTEGER NOT NULL,
			UNIQUE (vm_id, path)
		) STRICT`,
		`CREATE INDEX disks_by_vm ON disks (vm_id, position)`,
		`CREATE TABLE share_policies (
			vm_id               TEXT PRIMARY KEY NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
			clipboard           TEXT NOT NULL DEFAULT 'off'
			                    CHECK (clipboard IN ('off', 'host-to-guest', 'guest-to-host', 'both')),
			clipboard_max_bytes INTEGER NOT NULL DEFAULT 1048576 CHECK (clipboard_max_bytes > 0),
			clipboard_ask       INTEGER NOT NULL DEFAULT 1 CHECK (clipboard_ask IN (0, 1))
		) STRICT`,
		`CREATE TABLE shares (
			id        INTEGER PRIMARY KEY,
			vm_id     TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
			host_dir  TEXT NOT NULL,
			tag       TEXT NOT NULL,
			read_only INTEGER NOT NULL DEFAULT 1 CHECK (read_only IN (0, 1)),
			transient INTEGER NOT NULL DEFAULT 0 CHECK (transient IN (0, 1)),
			UNIQUE (vm_id, tag)
		) STRICT`,
		// AUTOINCREMENT: an audit id is never reused, even after old rows are pruned, so it is a stable cursor.
		// vm_id becomes NULL when the VM is deleted; vm_name keeps saying whose row it was.
		`CREATE TABLE audit (
			id        INTEGER PRIMARY KEY AUTOINCREMENT,
			time_ms   INTEGER NOT NULL,
			vm_id     TEXT REFERENCES vms(id) ON DELETE SET NULL,
			vm_name   TEXT NOT NULL,
			channel   TEXT NOT NULL,
			direction TEXT NOT NULL,
			bytes     INTEGER NOT NULL DEFAULT 0 CHECK (bytes >= 0),
			sha256    TEXT NOT NULL DEFAULT '',
			rule      TEXT NOT NULL DEFAULT '',
			decision  TEXT NOT NULL
		) STRICT`,
		// Newest first for one VM; newest first overall walks the primary key backwards.
		`CREATE INDEX audit_by_vm ON audit (vm_id, id DESC)`,
	}},
	{version: 2, about: "find every attachment of an image (AttachDisk refuses a second writer)", stmts: []string{
		`CREATE INDEX disks_by_path ON disks (path)`,
	}},
}

// SchemaVersion is the newest library schema this Paddock understands.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// migrate brings the database up to SchemaVersion, one migration per transaction. Two processes opening an old
// library at once are safe: each migration re-reads the version under the write lock.
func migrate(ctx context.Context, db *sql.DB, path string) error {
	for {
		done, err := migrateOnce(ctx, db, path)
		if err != nil || done {
			return err
		}
	}
}

// migrateOnce applies the next migration, or reports that none is left.
func migrateOnce(ctx context.Context, db *sql.DB, path string) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil) // IMMEDIATE: holds the write lock from the version check to the commit
	if err != nil {
		return false, fmt.Errorf("%s: upgrading library: %w", path, err)
	}
	defer func() {
		if err != nil || done {
			_ = tx.Rollback()
		}
	}()
	var current int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&current); err != nil {
		return false, fmt.Errorf("%s: reading schema version: %w", path, err)
	}
	latest := SchemaVersion()
	if current > latest {
		return false, &NewerSchemaError{Path: path, Found: current, Supported: latest}
	}
	if current < 0 {
		return false, fmt.Errorf("%s: corrupt library: schema version %d", path, current)
	}
	if current == latest {
		return true, nil
	}
	m := migrations[current] // versions are 1, 2, 3, ... in order
	for _, stmt := range m.stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return false, fmt.Errorf("%s: upgrading library to schema %d (%s): %w", path, m.version, m.about, err)
		}
	}
	// A migration that rebuilds a table must not leave dangling references behind.
	rows, err := tx.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return false, fmt.Errorf("%s: checking schema %d: %w", path, m.version, err)
	}
	dangling := rows.Next()
	rows.Close()
	if dangling {
		return false, fmt.Errorf("%s: upgrading library to schema %d left broken references", path, m.version)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, m.version)); err != nil {
		return false, fmt.Errorf("%s: recording schema %d: %w", path, m.version, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("%s: committing schema %d: %w", path, m.version, err)
	}
	return false, nil
}
