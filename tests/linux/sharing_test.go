package linux_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"paddock/library"
	"paddock/tests/testenv"
	"paddock/ui/vmctl"
)

// Sharing from inside a stock Linux guest: folder shares mounted with the kernel's own 9p and 9pnet_virtio, and
// the clipboard through paddock-agent on its virtio-console port.

// Two folder shares, one read-only and one read-write. The guest reads a file byte for byte from the read-only
// one, and every write it tries there fails: the host folder is unchanged. Symlinks the host placed in the share
// that point outside it show the guest nothing of what they point at. On the read-write share the guest's files
// arrive, but the host refuses device nodes and FIFOs and never sets the setuid bit.
func TestFolderShares(t *testing.T) {
	ready(t)
	root := t.TempDir()
	ro, rw := filepath.Join(root, "ro"), filepath.Join(root, "rw")
	for _, d := range []string{ro, rw} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data := make([]byte, 3<<20+321)
	for i := range data {
		data[i] = byte(i*131 + i>>9)
	}
	const secret = "PADDOCK-HOST-SECRET-5b1e"
	secretPath := filepath.Join(root, "secret.txt")
	for name, content := range map[string][]byte{
		filepath.Join(ro, "data.bin"): data, filepath.Join(ro, "note.txt"): []byte("a note\n"),
		secretPath: []byte(secret + "\n"),
	} {
		if err := os.WriteFile(name, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../secret.txt", filepath.Join(ro, "up")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secretPath, filepath.Join(ro, "abs")); err != nil {
		t.Fatal(err)
	}
	before := testenv.TreeState(t, ro)

	v := boot(t, newEnv(t), "share", "paddock.ro=docs paddock.rw=out", "--share", ro+":docs", "--share", rw+":out:rw")
	v.waitFor("PADDOCK-TEST share PASS")
	v.exitsCleanly()
	serial := v.out.String()

	sum := sha256.Sum256(data)
	if want := fmt.Sprintf("PADDOCK-SHARE read data.bin %x %d", sum, len(data)); !strings.Contains(serial, want) {
		t.Errorf("the guest did not read data.bin byte for byte: no %q", want)
	}
	if strings.Contains(serial, secret) {
		t.Errorf("the guest read the host file a symlink in the share points at")
	}
	if after := testenv.TreeState(t, ro); after != before {
		t.Errorf("the read-only share changed on the host:\n%s\nwas\n%s", after, before)
	}
	if got, err := os.ReadFile(filepath.Join(rw, "from-guest.txt")); err != nil || string(got) != "written by the guest\n" {
		t.Errorf("from-guest.txt on the read-write share: %q, %v", got, err)
	}
	copied := filepath.Join(rw, "copy.bin")
	if got, err := os.ReadFile(copied); err != nil || !bytes.Equal(got, data) {
		t.Errorf("copy.bin on the read-write share: %d bytes (%v), want data.bin's %d byte for byte", len(got), err, len(data))
	}
	if fi, err := os.Stat(copied); err == nil && fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
		t.Errorf("the guest's chmod 4755 set %v on the host", fi.Mode())
	}
	entries, _ := os.ReadDir(rw)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"copy.bin", "from-guest.txt"}) {
		t.Errorf("the read-write share holds %v, want only copy.bin and from-guest.txt (no device node, no FIFO)", names)
	}
	if t.Failed() {
		t.Logf("%s", v.describe())
	}
}

// fakeClipboard is the host clipboard, in the test.
type fakeClipboard struct {
	mu      sync.Mutex
	text    string
	written []string
}

func (c *fakeClipboard) Read() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.text, nil
}

func (c *fakeClipboard) Write(text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.text = text
	c.written = append(c.written, text)
	return nil
}

func (c *fakeClipboard) writes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.written)
}

// agentInitramfs is the guest's initramfs with paddock-agent added as /bin/paddock-agent: a second cpio archive
// appended to the first, which the kernel unpacks over it.
func agentInitramfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(filepath.Join(tree, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	agent := exec.Command(testenv.GoTool(), "build", "-o", filepath.Join(tree, "bin", "paddock-agent"), "paddock/sharing/agent/cmd/paddock-agent")
	agent.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := agent.CombinedOutput(); err != nil {
		t.Fatalf("building paddock-agent: %v\n%s", err, out)
	}
	mkcpio := filepath.Join(dir, "mkcpio")
	if out, err := exec.Command(testenv.GoTool(), "build", "-o", mkcpio, "paddock/tests/guest/mkcpio").CombinedOutput(); err != nil {
		t.Fatalf("building mkcpio: %v\n%s", err, out)
	}
	extra := filepath.Join(dir, "agent.cpio.gz")
	if out, err := exec.Command(mkcpio, "-o", extra, tree).CombinedOutput(); err != nil {
		t.Fatalf("mkcpio: %v\n%s", err, out)
	}
	base, err := os.ReadFile(filepath.Join(guestDir, "initramfs.cpio.gz"))
	if err != nil {
		t.Fatal(err)
	}
	add, err := os.ReadFile(extra)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "initramfs-agent.cpio.gz")
	if err := os.WriteFile(out, append(base, add...), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// envValue is KEY's value in env.
func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// waitFile waits (bounded) for want in the file at path, failing the test with its contents otherwise.
func waitFile(t *testing.T, path, want string) string {
	t.Helper()
	deadline := time.Now().Add(timeout())
	for {
		raw, _ := os.ReadFile(path)
		if strings.Contains(string(raw), want) {
			return string(raw)
		}
		if m := failLine.Find(raw); m != nil {
			t.Fatalf("%s\n--- %s ---\n%s", m, path, raw)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %s within %v\n%s", want, path, timeout(), raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A library VM with its clipboard shared both ways: paddock-agent in the guest offers text, which the host side
// (vmctl.RunClipboard with the test's host clipboard) puts on the host clipboard, and reads the host clipboard
// back; both crossings leave an allowed audit entry with the text's size and digest.
func TestClipboardAgent(t *testing.T) {
	ready(t)
	initrd := agentInitramfs(t)
	env := newEnv(t)
	// The host side runs in this process: it must find the same library and the VM's control socket.
	t.Setenv("PADDOCK_HOME", envValue(env, "PADDOCK_HOME"))
	t.Setenv("XDG_RUNTIME_DIR", envValue(env, "XDG_RUNTIME_DIR"))
	name := vmName()
	fromGuest := fmt.Sprintf("PADDOCK-CLIP-FROM-GUEST-%d", os.Getpid())
	const fromHost = "PADDOCK-CLIP-FROM-HOST"
	cmdline := "console=ttyS0 panic=-1 paddock.test=clip paddock.clip=" + fromGuest
	must := func(args ...string) {
		t.Helper()
		if _, err := paddockCommand(env, args...); err != nil {
			t.Fatal(err)
		}
	}
	must("create", name, "--kernel", filepath.Join(guestDir, "vmlinuz"), "--initrd", initrd, "--append", cmdline,
		"--memory", "512", "--cpus", "1", "--disk-size", "0")
	must("clipboard", name, "--mode", "both", "--ask", "off")

	lib, err := library.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout())
	defer cancel()
	vm, err := lib.GetVM(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	must("start", name, "--headless")
	t.Cleanup(func() { paddockCommand(env, "stop", "--force", name) })

	host := &fakeClipboard{text: fromHost}
	done := make(chan error, 1)
	go func() { done <- vmctl.RunClipboard(ctx, lib, vm, host, nil) }()
	ended := false
	defer func() {
		if !ended {
			cancel()
			<-done // before the library closes
		}
	}()
	serial := waitFile(t, filepath.Join(lib.VMDir(vm.ID), vmctl.SerialLogName), "PADDOCK-TEST clip PASS")
	// The guest retries an offer whose answer it missed, so the same text may arrive more than once.
	if got := host.writes(); len(got) == 0 || slices.ContainsFunc(got, func(s string) bool { return s != fromGuest }) {
		t.Errorf("the host clipboard was written %q, want %q", got, fromGuest)
	}
	if !strings.Contains(serial, "PADDOCK-CLIP host="+fromHost) {
		t.Errorf("the guest did not read the host clipboard %q\n%s", fromHost, serial)
	}
	select {
	case err := <-done:
		ended = true
		if !errors.Is(err, vmctl.ErrNotRunning) {
			t.Errorf("RunClipboard ended with %v once the VM powered off, want ErrNotRunning", err)
		}
	case <-time.After(timeout()):
		t.Errorf("RunClipboard still runs %v after the VM powered off", timeout())
	}

	entries, err := lib.ListAudit(context.Background(), library.AuditQuery{VM: name})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ dir, text string }{{"guest-to-host", fromGuest}, {"host-to-guest", fromHost}} {
		sum := sha256.Sum256([]byte(want.text))
		found := slices.ContainsFunc(entries, func(e library.AuditEntry) bool {
			return e.Channel == "clipboard" && e.Direction == want.dir && e.Decision == library.DecisionAllowed &&
				e.Bytes == int64(len(want.text)) && e.SHA256 == hex.EncodeToString(sum[:])
		})
		if !found {
			t.Errorf("no allowed clipboard %s audit entry of %d bytes with the text's SHA-256; entries: %+v",
				want.dir, len(want.text), entries)
		}
	}
}
