package library

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestAuditNewestFirstAndPaging(t *testing.T) {
	ctx := context.Background()
	l := newLibrary(t)
	a := mustCreate(t, l, basicSpec("a"))
	b := mustCreate(t, l, basicSpec("b"))
	sum := sha256.Sum256([]byte("hello"))
	var written []AuditEntry
	for i := range 10 {
		vm := a
		if i%2 == 1 {
			vm = b
		}
		e, err := l.AppendAudit(ctx, AuditEntry{VMID: vm.ID, Channel: "clipboard", Direction: "guest-to-host",
			Bytes: int64(i), SHA256: hex.EncodeToString(sum[:]), Rule: "clipboard=both", Decision: DecisionAllowed})
		if err != nil {
			t.Fatal(err)
		}
		if e.VMName != vm.Name || e.ID == 0 || e.Time.IsZero() {
			t.Errorf("appended %+v", e)
		}
		written = append(written, e)
	}

	all, err := l.ListAudit(ctx, AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 10 {
		t.Fatalf("%d entries, want 10", len(all))
	}
	for i, e := range all {
		want := written[9-i]
		if e.ID != want.ID || e.Bytes != want.Bytes || e.VMID != want.VMID || !e.Time.Equal(want.Time) {
			t.Errorf("entry %d = %+v, want %+v", i, e, want)
		}
	}

	// Pages of 3 for VM a: its entries are 0, 2, 4, 6, 8.
	var got []int64
	before := int64(0)
	for {
		page, err := l.ListAudit(ctx, AuditQuery{VM: "A", Limit: 3, BeforeID: before})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			got = append(got, e.Bytes)
		}
		before = page[len(page)-1].ID
	}
	if fmt.Sprint(got) != "[8 6 4 2 0]" {
		t.Errorf("VM a's entries by page: %v, want [8 6 4 2 0]", got)
	}

	bad := []AuditEntry{
		{Channel: "", Direction: "x", Decision: DecisionAllowed},
		{Channel: "clipboard", Direction: "x", Decision: ""},
		{Channel: "clipboard", Direction: "x", Decision: DecisionAllowed, SHA256: "ABC"},
		{Channel: "clipboard", Direction: "x", Decision: DecisionAllowed, Bytes: -1},
		{Channel: "clip\nboard", Direction: "x", Decision: DecisionAllowed},
	}
	for _, e := range bad {
		if _, err := l.AppendAudit(ctx, e); !errors.Is(err, ErrInvalid) {
			t.Errorf("AppendAudit(%+v): %v, want ErrInvalid", e, err)
		}
	}
	if _, err := l.ListAudit(ctx, AuditQuery{Limit: MaxAuditLimit + 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized limit: %v", err)
	}
}

func TestAuditOutlivesItsVM(t *testing.T) {
	ctx := context.Background()
	l := newLibrary(t)
	vm := mustCreate(t, l, basicSpec("Doomed"))
	keep := mustCreate(t, l, basicSpec("keeper"))
	when := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, v := range []VM{vm, keep} {
		if _, err := l.AppendAudit(ctx, AuditEntry{Time: when, VMID: v.ID, Channel: "folder",
			Direction: "guest-to-host", Rule: "share docs read-only", Decision: DecisionDenied}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.DeleteVM(ctx, vm.ID, false); err != nil {
		t.Fatal(err)
	}
	all, err := l.ListAudit(ctx, AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("%d entries after deleting a VM, want 2", len(all))
	}
	gone := all[1]
	if gone.VMID != "" || gone.VMName != "Doomed" || gone.Decision != DecisionDenied || !gone.Time.Equal(when) {
		t.Errorf("deleted VM's entry: %+v", gone)
	}
	if all[0].VMID != keep.ID {
		t.Errorf("other VM's entry lost its id: %+v", all[0])
	}
	// The deleted VM's name still finds what it left.
	byName, err := l.ListAudit(ctx, AuditQuery{VM: "doomed"})
	if err != nil || len(byName) != 1 || byName[0].ID != gone.ID {
		t.Errorf("audit of the deleted VM by name: %+v, %v", byName, err)
	}
	// A crossing reported for a VM deleted meanwhile is still recorded.
	late, err := l.AppendAudit(ctx, AuditEntry{VMID: vm.ID, VMName: "Doomed", Channel: "clipboard",
		Direction: "guest-to-host", Decision: DecisionDenied})
	if err != nil {
		t.Fatal(err)
	}
	if late.VMID != "" || late.VMName != "Doomed" {
		t.Errorf("late entry %+v", late)
	}
}
