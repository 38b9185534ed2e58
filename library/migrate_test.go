package library

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func rawDB(t *testing.T, home string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", filepath.Join(home, DBName))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func userVersion(t *testing.T, db *sql.DB) int {
	t.Helper()
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrationsAreNumberedInOrder(t *testing.T) {
	for i, m := range migrations {
		if m.version != i+1 || len(m.stmts) == 0 || m.about == "" {
			t.Errorf("migration %d: version %d, %d statements, about %q", i, m.version, len(m.stmts), m.about)
		}
	}
}

// Libraries at schema 1 exist on users' disks: its migration must never change, or a fresh library and an
// upgraded one would differ. Change the schema with a new migration instead.
func TestMigrationOneIsFrozen(t *testing.T) {
	h := sha256.New()
	for _, s := range migrations[0].stmts {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != frozenMigrationOne {
		t.Errorf("migration 1 changed (hash now %s): add a new migration instead", got)
	}
}

const frozenMigrationOne = "162e91f3e2ebe2a5c61a7b3c54ec415361141fe9db69e7c3e638f55271d39ee6"

func TestOpenUpgradesAnOlderLibrary(t *testing.T) {
	home := t.TempDir()
	db := rawDB(t, home)
	for _, s := range migrations[0].stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	const id = "0f8fad5b-d9cb-469f-a165-70867728950e"
	for _, s := range []string{
		`INSERT INTO vms (id, name, cpus, memory_mib, boot, created_ms, updated_ms) VALUES ('` + id + `', 'old', 2, 512,
			'firmware', 1700000000000, 1700000000000)`,
		`INSERT INTO share_policies (vm_id) VALUES ('` + id + `')`,
		`INSERT INTO disks (id, vm_id, path, size_bytes, position) VALUES ('d1', '` + id + `', '/images/old.img', 512, 0)`,
		`INSERT INTO audit (time_ms, vm_id, vm_name, channel, direction, decision) VALUES (1700000000000, '` + id +
			`', 'old', 'clipboard', 'host-to-guest', 'denied')`,
		`PRAGMA user_version = 1`,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	l, err := Open(home)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	vm, err := l.GetVM(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if vm.ID != id || vm.CPUs != 2 || vm.MemoryMiB != 512 || len(vm.Disks) != 1 || vm.Disks[0].Path != "/images/old.img" ||
		vm.Created.UnixMilli() != 1700000000000 {
		t.Errorf("after upgrade: %+v", vm)
	}
	if a, err := l.ListAudit(ctx, AuditQuery{VM: id}); err != nil || len(a) != 1 {
		t.Errorf("audit after upgrade: %v, %v", a, err)
	}
	var v int
	l.reader.QueryRow(`PRAGMA user_version`).Scan(&v)
	if v != SchemaVersion() {
		t.Errorf("schema %d after upgrade, want %d", v, SchemaVersion())
	}
	var idx int
	l.reader.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'disks_by_path'`).Scan(&idx)
	if idx != 1 {
		t.Error("migration 2's index is missing")
	}
	var check string
	l.reader.QueryRow(`PRAGMA integrity_check`).Scan(&check)
	if check != "ok" {
		t.Errorf("integrity_check: %s", check)
	}
}

func TestOpenRefusesANewerLibrary(t *testing.T) {
	home := t.TempDir()
	db := rawDB(t, home)
	if _, err := db.Exec(`CREATE TABLE future (x); PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	l, err := Open(home)
	if err == nil {
		l.Close()
		t.Fatal("Open accepted a library of schema 99")
	}
	var newer *NewerSchemaError
	if !errors.As(err, &newer) || newer.Found != 99 || newer.Supported != SchemaVersion() {
		t.Fatalf("error %v (%T), want *NewerSchemaError", err, err)
	}
	want := "this library was written by a newer Paddock (schema 99); this Paddock understands up to 2"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("message %q does not say %q", err, want)
	}
	db = rawDB(t, home)
	defer db.Close()
	if v := userVersion(t, db); v != 99 {
		t.Errorf("refusing changed the schema version to %d", v)
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'vms'`).Scan(&n)
	if n != 0 {
		t.Error("refusing still created tables")
	}
}

func TestConcurrentOpensOfANewLibrary(t *testing.T) {
	home := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			l, err := Open(home)
			if err == nil {
				_, err = l.CreateVM(context.Background(), basicSpec("vm"+string(rune('a'+i))))
				l.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("opener %d: %v", i, err)
		}
	}
	db := rawDB(t, home)
	defer db.Close()
	if v := userVersion(t, db); v != SchemaVersion() {
		t.Errorf("schema %d", v)
	}
}
