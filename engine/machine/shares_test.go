package machine

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"paddock/engine/control"
	"paddock/engine/virtio"
)

func sharePair(t *testing.T) (vmmEnd, serverEnd *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Non-blocking, so that the test's read deadline holds.
	if err := unix.SetNonblock(fds[1], true); err != nil {
		t.Fatal(err)
	}
	vmmEnd, serverEnd = os.NewFile(uintptr(fds[0]), "vmm"), os.NewFile(uintptr(fds[1]), "server")
	t.Cleanup(func() { vmmEnd.Close(); serverEnd.Close() })
	return vmmEnd, serverEnd
}

func TestValidateShares(t *testing.T) {
	conn, _ := sharePair(t)
	for _, tc := range []struct {
		shares []Share
		bad    string
	}{
		{[]Share{{Tag: "docs", Conn: conn}, {Tag: "src", ReadOnly: true, Conn: conn}}, ""},
		{[]Share{{Tag: "", Conn: conn}}, "tag"},
		{[]Share{{Tag: "with space", Conn: conn}}, "tag"},
		{[]Share{{Tag: "docs", Conn: conn}, {Tag: "docs", Conn: conn}}, "two shares"},
		{[]Share{{Tag: "docs"}}, "no connection"},
	} {
		err := validateShares(tc.shares)
		if tc.bad == "" && err != nil || tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)) {
			t.Errorf("%+v: %v, want an error mentioning %q", tc.shares, err, tc.bad)
		}
	}
}

// The control op revokes a share by its tag: its server sees the connection end, though the VMM's own descriptor
// of the socket stays open.
func TestRevokeShareOverControl(t *testing.T) {
	conn, server := sharePair(t)
	log := slog.New(slog.DiscardHandler)
	m := &Machine{log: log, legacy: &legacyDevices{shares: newSharedFolders([]Share{{Tag: "docs", Conn: conn}}, log)}}
	defer closeSharedFolders(m.legacy.shares)
	if _, err := m.Handle(control.OpRevokeShare, json.RawMessage(`{"tag":"other"}`)); err == nil {
		t.Error("revoking an unknown tag succeeded")
	}
	if _, err := m.Handle(control.OpRevokeShare, nil); err == nil {
		t.Error("revoking with no arguments succeeded")
	}
	if _, err := m.Handle(control.OpRevokeShare, json.RawMessage(`{"tag":"docs"}`)); err != nil {
		t.Fatal(err)
	}
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := server.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("the server's end read %d bytes, %v; want EOF", n, err)
	}
	// A revoked share is not offered to the next boot's guest.
	added := 0
	if err := m.attachShares(func(virtio.Device, string) error { added++; return nil }); err != nil {
		t.Fatal(err)
	}
	if added != 0 {
		t.Error("a revoked share was attached again")
	}
}

// A share added to a running VM is attached at the guest's next boot; its tag must be free, unless the share
// that had it was revoked, which it then replaces.
func TestAddShareWhileRunning(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	first, _ := sharePair(t)
	m := &Machine{log: log, legacy: &legacyDevices{shares: newSharedFolders([]Share{{Tag: "docs", Conn: first}}, log)}}
	defer func() { closeSharedFolders(m.legacy.shares) }()
	attached := func() []string {
		var tags []string
		if err := m.attachShares(func(d virtio.Device, what string) error { tags = append(tags, what); return nil }); err != nil {
			t.Fatal(err)
		}
		return tags
	}
	second, _ := sharePair(t)
	if err := m.AddShare(Share{Tag: "more", Conn: second}); err != nil {
		t.Fatal(err)
	}
	if got := attached(); len(got) != 2 {
		t.Fatalf("next boot attaches %v, want both shares", got)
	}
	again, _ := sharePair(t)
	if err := m.AddShare(Share{Tag: "docs", Conn: again}); err == nil {
		t.Error("a second share with a tag in use was added")
	}
	bad, _ := sharePair(t)
	if err := m.AddShare(Share{Tag: "bad tag", Conn: bad}); err == nil {
		t.Error("a share with a bad tag was added")
	}
	if err := m.RevokeShare("docs"); err != nil {
		t.Fatal(err)
	}
	if got := attached(); len(got) != 1 {
		t.Fatalf("after revoking docs the next boot attaches %v", got)
	}
	narrowed, _ := sharePair(t)
	if err := m.AddShare(Share{Tag: "docs", ReadOnly: true, Conn: narrowed}); err != nil {
		t.Fatalf("re-adding a revoked tag: %v", err)
	}
	states := m.Shares()
	if got := attached(); len(got) != 2 || len(states) != 2 || !states[1].ReadOnly || states[1].Revoked {
		t.Fatalf("after re-adding docs: attached %v, shares %+v", got, states)
	}
}
