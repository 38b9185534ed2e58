// Package library is Paddock's VM library: the SQLite store of VMs, their disks and media, sharing policies and the
// audit log, plus the VM directories that hold disk images. The GUI and the CLI may have it open at the same time;
// every write is one transaction, so either sees the other's changes whole or not at all.
package library

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" database/sql driver
)

// DBName is the library database's file name inside the data directory.
const DBName = "library.db"

// busyTimeout is how long a writer waits for another process's write transaction to end. Write transactions are
// milliseconds long; the margin covers a slow disk doing an fsync.
const busyTimeout = 10 * time.Second

// Library is an open VM library. It is safe for concurrent use by several goroutines, and other processes may have
// the same library open.
type Library struct {
	home string
	// writer runs every write transaction; its transactions begin IMMEDIATE so that two writers queue on the
	// database lock (honouring the busy timeout) instead of failing when a read transaction would upgrade.
	writer *sql.DB
	// reader runs read-only snapshots (deferred transactions, query_only), which never wait for a writer in WAL mode.
	reader *sql.DB
}

// Home is Paddock's data directory: $PADDOCK_HOME if set, else $XDG_DATA_HOME/paddock, else
// ~/.local/share/paddock.
func Home() (string, error) {
	if h := os.Getenv("PADDOCK_HOME"); h != "" {
		abs, err := filepath.Abs(h)
		if err != nil {
			return "", fmt.Errorf("PADDOCK_HOME %q: %w", h, err)
		}
		return abs, nil
	}
	// The XDG base directory spec says a relative value is invalid and must be ignored.
	if x := os.Getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "paddock"), nil
	}
	userHome, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the data directory: %w", err)
	}
	return filepath.Join(userHome, ".local", "share", "paddock"), nil
}

// Open opens (creating if needed) the library in the data directory home, upgrading its schema when it was written
// by an older Paddock. An empty home means Home().
func Open(home string) (*Library, error) {
	if home == "" {
		h, err := Home()
		if err != nil {
			return nil, err
		}
		home = h
	}
	home, err := filepath.Abs(home)
	if err != nil {
		return nil, fmt.Errorf("library directory %q: %w", home, err)
	}
	// A directory Paddock creates is private. An existing one keeps the mode its owner gave it: the database and
	// vms/ inside are private anyway.
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("creating library directory: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(home, "vms"), 0o700); err != nil {
		return nil, fmt.Errorf("creating library directory: %w", err)
	}
	// Paths stored in the library are resolved, so the home they are compared against must be too.
	if home, err = filepath.EvalSymlinks(home); err != nil {
		return nil, fmt.Errorf("library directory: %w", err)
	}
	dbPath := filepath.Join(home, DBName)
	if err := createPrivate(dbPath); err != nil {
		return nil, err
	}

	l := &Library{home: home}
	l.writer, err = openDB(dbPath, "immediate", false)
	if err != nil {
		return nil, err
	}
	// Writers are serialised by SQLite's lock anyway; a few connections let readers of the writer pool (inside
	// write transactions) and concurrent callers queue without piling up file descriptors.
	l.writer.SetMaxOpenConns(4)
	if err := migrate(context.Background(), l.writer, dbPath); err != nil {
		l.writer.Close()
		return nil, err
	}
	l.reader, err = openDB(dbPath, "deferred", true)
	if err != nil {
		l.writer.Close()
		return nil, err
	}
	l.reader.SetMaxOpenConns(8)
	return l, nil
}

// createPrivate makes sure the database file exists with mode 0600 before SQLite opens it: SQLite creates its -wal
// and -shm files with the database file's permissions, so this keeps all three private.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening library database: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("opening library database: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("library database %s is not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return fmt.Errorf("making library database private: %w", err)
		}
	}
	return nil
}

// openDB opens one connection pool on the database with Paddock's settings.
func openDB(path, txlock string, queryOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "1")
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	// FULL, not NORMAL: in WAL mode NORMAL skips the fsync at commit, so a change the user saw committed could
	// vanish on power failure. FULL syncs the WAL at every commit; library writes are rare and small, so the cost
	// is invisible.
	q.Set("_synchronous", "FULL")
	q.Set("_txlock", txlock)
	if queryOnly {
		q.Set("_query_only", "1")
	}
	// A file: URI with an escaped path, so a data directory containing '?' or '#' still names the right file.
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening library database %s: %w", path, err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening library database %s: %w", path, err)
	}
	return db, nil
}

// Close closes the library. Running VMs are unaffected.
func (l *Library) Close() error {
	return errors.Join(l.reader.Close(), l.writer.Close())
}

// HomeDir is the data directory this library lives in.
func (l *Library) HomeDir() string { return l.home }

// VMDir is the directory that holds a VM's own files (disk images Paddock created, serial.log). It exists from
// CreateVM until DeleteVM.
func (l *Library) VMDir(id string) string { return filepath.Join(l.home, "vms", id) }

// writeTx runs fn in one write transaction, committing if fn returns nil.
func (l *Library) writeTx(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	tx, err := l.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: starting transaction: %w", what, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: committing: %w", what, err)
	}
	return nil
}

// readTx runs fn in one read snapshot, so that what it reads from several tables belongs together.
func (l *Library) readTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := l.reader.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("reading library: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to lose
	return fn(tx)
}

// now is the time stamp stored for a change, in Unix milliseconds.
func now() int64 { return time.Now().UnixMilli() }

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
