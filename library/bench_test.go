package library

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
)

// fillLibrary adds n VMs, each with a disk and an audit entry, in one transaction (n separate CreateVM calls would
// mostly measure fsync).
func fillLibrary(b *testing.B, home string, n int) {
	l, err := Open(home)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	err = l.writeTx(context.Background(), "filling", func(tx *sql.Tx) error {
		for i := range n {
			id, _ := newID()
			if _, err := tx.Exec(`INSERT INTO vms (id, name, os, cpus, memory_mib, boot, created_ms, updated_ms)
				VALUES (?, ?, 'Debian 12', 2, 2048, 'firmware', 1, 1)`, id, fmt.Sprintf("vm %04d", i)); err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT INTO share_policies (vm_id) VALUES (?)`, id); err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT INTO disks (id, vm_id, path, size_bytes, position) VALUES (?, ?, ?, 1048576, 0)`,
				id+"d", id, "/images/"+id+".img"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkOpenAndList1000 is what the GUI does at start: open the library and list it. Target: under 100 ms.
func BenchmarkOpenAndList1000(b *testing.B) {
	home := b.TempDir()
	fillLibrary(b, home, 1000)
	ctx := context.Background()
	for b.Loop() {
		l, err := Open(home)
		if err != nil {
			b.Fatal(err)
		}
		vms, err := l.ListVMs(ctx)
		if err != nil || len(vms) != 1000 || len(vms[999].Disks) != 1 {
			b.Fatalf("listed %d VMs: %v", len(vms), err)
		}
		l.Close()
	}
}

// BenchmarkList1000 is a refresh of the library window with the library already open.
func BenchmarkList1000(b *testing.B) {
	home := b.TempDir()
	fillLibrary(b, home, 1000)
	l, err := Open(home)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	for b.Loop() {
		if _, err := l.ListVMs(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
