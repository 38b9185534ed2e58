package library

import (
	"context"
	"errors"
	"testing"
)

func TestSetDiskReadOnly(t *testing.T) {
	ctx := context.Background()
	lib, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Close()
	a, err := lib.CreateVM(ctx, VMSpec{Name: "a", CPUs: 1, MemoryMiB: 128})
	if err != nil {
		t.Fatal(err)
	}
	b, err := lib.CreateVM(ctx, VMSpec{Name: "b", CPUs: 1, MemoryMiB: 128})
	if err != nil {
		t.Fatal(err)
	}
	first, err := lib.CreateDisk(ctx, a.ID, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lib.CreateDisk(ctx, a.ID, 2<<20); err != nil {
		t.Fatal(err)
	}
	if err := lib.SetDiskReadOnly(ctx, a.ID, first.ID, true); err != nil {
		t.Fatal(err)
	}
	got, err := lib.GetVM(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Disks[0].ReadOnly || got.Disks[0].ID != first.ID || got.Disks[1].ReadOnly {
		t.Fatalf("after SetDiskReadOnly the disks are %+v; want the first read-only and still first", got.Disks)
	}
	if got.Version == a.Version {
		t.Error("changing a disk's mode did not count as a configuration change")
	}

	// Shared read-only with b: neither may make it writable.
	if _, err := lib.AttachDisk(ctx, b.ID, first.Path, true); err != nil {
		t.Fatal(err)
	}
	if err := lib.SetDiskReadOnly(ctx, a.ID, first.ID, false); !errors.Is(err, ErrDiskInUse) {
		t.Fatalf("making a shared image writable: %v, want ErrDiskInUse", err)
	}

	if err := lib.SetState(ctx, a.ID, StateRunning, ""); err != nil {
		t.Fatal(err)
	}
	if err := lib.SetDiskReadOnly(ctx, a.ID, got.Disks[1].ID, true); !errors.Is(err, ErrRunning) {
		t.Fatalf("changing a running VM's disk: %v, want ErrRunning", err)
	}
	if err := lib.SetDiskReadOnly(ctx, a.ID, "no-such-disk", true); !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrRunning) {
		t.Fatalf("unknown disk: %v", err)
	}
}
