package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"paddock/library"
)

// run runs one command line in-process against the library in $PADDOCK_HOME.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}, args)
	return out.String(), errb.String(), code
}

func sharingHome(t *testing.T) *library.Library {
	t.Helper()
	home := t.TempDir()
	t.Setenv("PADDOCK_HOME", home)
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	lib, err := library.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lib.Close() })
	kernel := filepath.Join(t.TempDir(), "vmlinuz")
	if err := os.WriteFile(kernel, []byte("kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := lib.CreateVM(context.Background(), library.VMSpec{Name: "deb", CPUs: 1, MemoryMiB: 256,
		Boot: library.BootDirect, Kernel: kernel}); err != nil {
		t.Fatal(err)
	}
	return lib
}

func TestShareCommands(t *testing.T) {
	lib := sharingHome(t)
	dir := t.TempDir()
	if out, errs, code := run(t, "share", "add", "deb", dir, "--tag", "docs", "--transient"); code != 0 ||
		!strings.Contains(out, "read-only") {
		t.Fatalf("share add: %d %q %q", code, out, errs)
	}
	for _, bad := range [][]string{
		{"share", "add", "deb", dir, "--tag", "docs"},                        // tag taken
		{"share", "add", "deb", dir, "--tag", "bad tag"},                     // charset
		{"share", "add", "deb", dir, "--tag", strings.Repeat("t", 33)},       // length
		{"share", "add", "deb", filepath.Join(dir, "missing"), "--tag", "x"}, // no such folder
		{"share", "add", "deb", dir},                                         // no tag
		{"share", "add", "nosuchvm", dir, "--tag", "y"},
		{"share", "remove", "deb", "nosuchtag"},
	} {
		if _, _, code := run(t, bad...); code == 0 {
			t.Errorf("%v succeeded", bad)
		}
	}
	out, _, code := run(t, "share", "list", "deb", "--json")
	var shares []shareJSON
	if code != 0 || json.Unmarshal([]byte(out), &shares) != nil || len(shares) != 1 || shares[0].Tag != "docs" ||
		!shares[0].ReadOnly || !shares[0].Transient {
		t.Fatalf("share list: %d %q", code, out)
	}
	if out, _, code := run(t, "share", "list", "deb"); code != 0 || !strings.Contains(out, "until power-off") {
		t.Fatalf("share list: %q", out)
	}
	if _, errs, code := run(t, "share", "remove", "deb", "docs"); code != 0 {
		t.Fatalf("share remove: %q", errs)
	}
	vm, _ := lib.GetVM(context.Background(), "deb")
	if len(vm.Shares) != 0 {
		t.Fatalf("shares left: %+v", vm.Shares)
	}
}

func TestClipboardCommand(t *testing.T) {
	lib := sharingHome(t)
	out, _, code := run(t, "clipboard", "deb")
	if code != 0 || out != "deb: clipboard off, at most 1048576 bytes, ask on\n" {
		t.Fatalf("default: %d %q", code, out)
	}
	if out, errs, code := run(t, "clipboard", "deb", "--mode", "host-to-guest", "--max-bytes", "4096", "--ask", "off"); code != 0 ||
		out != "deb: clipboard host-to-guest, at most 4096 bytes, ask off\n" {
		t.Fatalf("set: %d %q %q", code, out, errs)
	}
	vm, _ := lib.GetVM(context.Background(), "deb")
	if vm.Sharing != (library.SharePolicy{Clipboard: library.ClipboardHostToGuest, ClipboardMaxBytes: 4096}) {
		t.Fatalf("library has %+v", vm.Sharing)
	}
	for _, bad := range [][]string{
		{"clipboard", "deb", "--mode", "sideways"},
		{"clipboard", "deb", "--max-bytes", "-1"},
		{"clipboard", "deb", "--max-bytes", "999999999"},
		{"clipboard", "deb", "--ask", "maybe"},
	} {
		if _, _, code := run(t, bad...); code == 0 {
			t.Errorf("%v succeeded", bad)
		}
	}
	vm, _ = lib.GetVM(context.Background(), "deb")
	if vm.Sharing.Clipboard != library.ClipboardHostToGuest || vm.Sharing.ClipboardMaxBytes != 4096 {
		t.Fatalf("a refused change was kept: %+v", vm.Sharing)
	}
}

func TestAuditCommand(t *testing.T) {
	lib := sharingHome(t)
	if out, _, code := run(t, "audit"); code != 0 || !strings.Contains(out, "Nothing") {
		t.Fatalf("empty audit: %q", out)
	}
	ctx := context.Background()
	sum := strings.Repeat("ab", 32)
	for _, e := range []library.AuditEntry{
		{VMID: "deb", Channel: "clipboard", Direction: "guest-to-host", Bytes: 5, SHA256: sum, Rule: "mode off", Decision: "denied"},
		{VMID: "deb", Channel: "clipboard", Direction: "host-to-guest", Bytes: 7, SHA256: sum, Rule: "user allowed", Decision: "allowed"},
	} {
		if _, err := lib.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	out, _, code := run(t, "audit", "deb", "--json")
	var entries []auditJSON
	if code != 0 || json.Unmarshal([]byte(out), &entries) != nil || len(entries) != 2 {
		t.Fatalf("audit --json: %d %q", code, out)
	}
	if entries[0].Decision != "allowed" || entries[0].Bytes != 7 || entries[1].Rule != "mode off" || entries[0].VM != "deb" ||
		entries[0].SHA256 != sum {
		t.Fatalf("not newest first, or fields lost: %+v", entries)
	}
	out, _, _ = run(t, "audit")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.Contains(lines[1], "user allowed") {
		t.Fatalf("audit table:\n%s", out)
	}
}

func TestGuestToolsCommand(t *testing.T) {
	agent := filepath.Join(t.TempDir(), "paddock-agent")
	os.WriteFile(agent, append([]byte("\x7fELF"), make([]byte, 5000)...), 0o755)
	out := filepath.Join(t.TempDir(), "tools.iso")
	if stdout, errs, code := run(t, "guest-tools", "--agent", agent, "--output", out); code != 0 {
		t.Fatalf("%d %q %q", code, stdout, errs)
	}
	raw, err := os.ReadFile(out)
	if err != nil || len(raw) < 17*2048 || string(raw[16*2048+1:16*2048+6]) != "CD001" {
		t.Fatalf("not an ISO 9660 image: %v", err)
	}
	if _, _, code := run(t, "guest-tools", "--agent", filepath.Join(t.TempDir(), "none"), "--output", out); code == 0 {
		t.Fatal("a missing agent was accepted")
	}
}

// Opening and closing a channel from the command line is in the audit log, as from the window.
func TestSharingChangesAreAudited(t *testing.T) {
	lib := sharingHome(t)
	dir := t.TempDir()
	for _, args := range [][]string{
		{"clipboard", "deb", "--mode", "both"},
		{"share", "add", "deb", dir, "--tag", "docs"},
		{"share", "remove", "deb", "docs"},
		{"clipboard", "deb", "--mode", "off"},
		{"clipboard", "deb", "--mode", "off"}, // no change: no entry
	} {
		if _, errs, code := run(t, args...); code != 0 {
			t.Fatalf("%v: %q", args, errs)
		}
	}
	es, err := lib.ListAudit(context.Background(), library.AuditQuery{VM: "deb"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Channel+" "+e.Decision)
	}
	want := "clipboard revoked, folder revoked, folder granted, clipboard granted"
	if strings.Join(got, ", ") != want {
		t.Errorf("audit log, newest first: %q, want %q", strings.Join(got, ", "), want)
	}
}
