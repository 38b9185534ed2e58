package linux_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"paddock/library"
	"paddock/sharing/clipboard"
)

type zzAudit struct {
	mu sync.Mutex
	e  []library.AuditEntry
}

func (a *zzAudit) AppendAudit(ctx context.Context, e library.AuditEntry) (library.AuditEntry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.e = append(a.e, e)
	return e, nil
}

func TestZZClipQEMU(t *testing.T) {
	if os.Getenv("ZZ") == "" {
		t.Skip()
	}
	skipReason = ""
	guestDir = os.Getenv("HOME") + "/.cache/paddock/guests/6.1.0-56-amd64"
	initrd := agentInitramfs(t)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	var serial strings.Builder
	var mu sync.Mutex
	cmd := exec.Command("qemu-system-x86_64", "-M", "pc", "-accel", "tcg", "-m", "512", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", guestDir+"/vmlinuz", "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 paddock.test=clip paddock.clip=FROM-GUEST-123",
		"-device", "virtio-serial-pci", "-chardev", "socket,id=ag,path="+sock+",server=on,wait=off",
		"-device", "virtserialport,chardev=ag,name=org.paddock.agent.0")
	pr, pw, _ := os.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := pr.Read(b)
			mu.Lock()
			serial.Write(b[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	defer cmd.Process.Kill()
	time.Sleep(8 * time.Second) // the guest's first clip set finds no host
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	host := &fakeClipboard{text: "FROM-HOST-456"}
	aud := &zzAudit{}
	b, err := clipboard.New(conn, clipboard.Config{VMID: "x", VMName: "x", Host: host, Auditor: aud,
		Policy: library.SharePolicy{Clipboard: library.ClipboardBoth, ClipboardMaxBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	go b.Run(ctx)
	cmd.Wait()
	mu.Lock()
	out := serial.String()
	mu.Unlock()
	t.Logf("took %v; writes %q; audit %+v", time.Since(start), host.writes(), aud.e)
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "PADDOCK") || strings.Contains(l, "paddock-agent") {
			t.Log(l)
		}
	}
}
