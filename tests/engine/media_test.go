package engine_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"paddock/tests/media"
	"paddock/tests/testenv"
)

// statusLine is the value of one "key: value" line of `paddock status NAME`.
func statusLine(t *testing.T, env []string, name, key string) string {
	t.Helper()
	r := paddock(t, env, "status", name)
	r.expectExit(t, 0)
	for _, l := range strings.Split(r.stdout, "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// A running library VM's ISO is ejected and another inserted with `paddock edit`: the VM's drive follows at once,
// and the library keeps the change for the next start.
func TestISOChangesInARunningVM(t *testing.T) {
	t.Parallel()
	requireKVM(t)
	testenv.RequireFirmware(t)
	first, second := media.Get(t, media.Grub()), media.Get(t, media.DebianNetinst())
	env := newEnv(t)
	paddock(t, env, "create", "cd", "--iso", first, "--memory", "128", "--cpus", "1", "--disk-size", "0").expectExit(t, 0)
	paddock(t, env, "start", "cd", "--headless").expectExit(t, 0)
	defer paddock(t, env, "stop", "--force", "cd")
	if got := statusLine(t, env, "cd", "cdrom"); got != first {
		t.Fatalf("cdrom %q, want %q", got, first)
	}
	paddock(t, env, "edit", "cd", "--eject").expectExit(t, 0)
	if got := statusLine(t, env, "cd", "cdrom"); got != "(empty)" {
		t.Errorf("after --eject the drive holds %q", got)
	}
	paddock(t, env, "edit", "cd", "--iso", second).expectExit(t, 0)
	if got := statusLine(t, env, "cd", "cdrom"); got != second {
		t.Errorf("after --iso the drive holds %q, want %q", got, second)
	}
	if r := paddock(t, env, "list", "--json"); !strings.Contains(r.stdout, second) {
		t.Errorf("the library does not record the new ISO:\n%s", r.stdout)
	}
}

// A VM with nothing bootable says so in `paddock status`, with what the firmware tried, while it keeps retrying.
func TestNothingBootableShowsInStatus(t *testing.T) {
	t.Parallel()
	requireKVM(t)
	testenv.RequireFirmware(t)
	disk := filepath.Join(t.TempDir(), "blank.img")
	if err := os.WriteFile(disk, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	env := newEnv(t)
	name := fmt.Sprintf("blank-%d", os.Getpid())
	s := start(t, env, "run", "--disk", disk, "--iso", media.Get(t, media.DataOnly()), "--serial", "stdio", "--name", name)
	defer s.kill()
	waitForWithin(s, "SeaBIOS (version", firmwareTimeout())
	if got := statusLine(t, env, name, "boot"); got != "" {
		t.Errorf("before the firmware tried anything, status says boot: %q", got)
	}
	waitForWithin(s, "No bootable device", firmwareTimeout())
	var got string
	deadline := time.Now().Add(10 * time.Second)
	for got == "" && time.Now().Before(deadline) { // the serial line shows the message before the firmware ends it
		time.Sleep(50 * time.Millisecond)
		got = statusLine(t, env, name, "boot")
	}
	for _, want := range []string{"no bootable device", "Hard Disk: not a bootable disk", "DVD/CD: Could not read from CDROM"} {
		if !strings.Contains(got, want) {
			t.Errorf("status says boot: %q; want it to mention %q", got, want)
		}
	}
	paddock(t, env, "stop", "--force", name).expectExit(t, 0)
}
