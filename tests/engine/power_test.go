package engine_test

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A reset through the i8042 restarts the guest (CMOS RAM survives it), or ends the run with --no-reboot.
func TestResetThroughI8042(t *testing.T) {
	t.Run("no-reboot", func(t *testing.T) {
		r := runGuest(t, "reset", "--no-reboot")
		r.expectExit(t, 0)
		r.guestHealthy(t)
		r.expectLine(t, "BOOT 1")
		r.noLine(t, "BOOT 2")
	})
	for _, cpus := range []string{"1", "4"} {
		t.Run("reboot cpus="+cpus, func(t *testing.T) {
			r := runGuest(t, "reset", "--cpus", cpus)
			r.expectExit(t, 0)
			r.guestHealthy(t)
			r.expectLine(t, "BOOT 1")
			r.expectLine(t, "BOOT 2")
			r.expectLine(t, "POWEROFF")
		})
	}
}

// A triple fault is a reset: the guest starts again, or the run ends with --no-reboot.
func TestTripleFault(t *testing.T) {
	t.Run("no-reboot", func(t *testing.T) {
		r := runGuest(t, "triplefault", "--no-reboot")
		r.expectExit(t, 0)
		r.expectLine(t, "TRIPLE-FAULT-NEXT")
		r.noLine(t, "TRIPLE-FAULT-SURVIVED")
	})
	t.Run("reboot", func(t *testing.T) {
		requireKVM(t)
		env := newEnv(t)
		name := vmName()
		s := start(t, env, "run", "--kernel", buildGuest(t, "triplefault"), "--serial", "stdio", "--name", name)
		deadline := time.Now().Add(runTimeout())
		for strings.Count(s.stdout.String(), "TRIPLE-FAULT-NEXT") < 2 {
			if s.exited() || time.Now().After(deadline) {
				s.kill()
				t.Fatalf("the guest did not start again after its triple fault\n%s", s.describe())
			}
			time.Sleep(20 * time.Millisecond)
		}
		paddock(t, env, "stop", "--force", name).expectExit(t, 0)
		s.wait()
	})
}

// An instruction fetch from unbacked MMIO cannot be emulated: paddock must stop with one line that names the
// internal error and where the guest was.
func TestInternalErrorIsReported(t *testing.T) {
	r := runGuest(t, "badinsn")
	if !strings.Contains(r.stdout, "JUMPING d0000000") {
		t.Fatalf("the guest did not get as far as its jump\n%s", r.describe())
	}
	line := r.expectCleanFailure(t, "internal", "suberror")
	if !regexp.MustCompile(`(?i)\bd0000000\b|0x0*d0000000`).MatchString(line) {
		t.Errorf("the error line does not give the guest RIP 0xd0000000: %s", line)
	}
}

func vmName() string { return fmt.Sprintf("t%08x", rand.Uint32()) }

var statusField = func(key string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^` + key + `:\s+(.+?)\s*$`)
}

// The power button: `paddock status` sees the running VM, `paddock stop` presses the button, the guest takes
// the SCI and powers off, and the run ends cleanly.
func TestPowerButton(t *testing.T) {
	requireKVM(t)
	env := newEnv(t)
	name := vmName()
	s := start(t, env, "run", "--kernel", buildGuest(t, "powerbutton"), "--serial", "stdio",
		"--name", name, "--cpus", "2", "--memory", "192")
	s.waitFor("WAITING")

	st := paddock(t, env, "status", name)
	st.expectExit(t, 0)
	for key, want := range map[string]string{"name": name, "state": "running", "vcpus": "2", "memory": "192 MiB"} {
		m := statusField(key).FindStringSubmatch(st.stdout)
		if m == nil || m[1] != want {
			t.Errorf("status %s: got %v, want %q\n%s", key, m, want, st.describe())
		}
	}
	// After set-up the VM's process runs under the seccomp allow-list, and still answers and runs the guest.
	if m := statusField("sandbox").FindStringSubmatch(st.stdout); m == nil || !strings.Contains(m[1], "seccomp: ") || !strings.Contains(m[1], "allowed") {
		t.Errorf("status does not show an enforced sandbox\n%s", st.describe())
	}

	paddock(t, env, "stop", name).expectExit(t, 0)
	code := s.wait()
	r := result{args: s.args, code: code, stdout: s.stdout.String(), stderr: s.stderr.String()}
	r.expectExit(t, 0)
	r.guestHealthy(t)
	r.expectLine(t, "POWER-BUTTON")
	r.expectLine(t, "POWEROFF")
	if !regexp.MustCompile(`(?m)^SCI gsi=9 level high\r?$`).MatchString(r.stdout) {
		t.Errorf("the MADT does not route the SCI as GSI 9, level, active high\n%s", r.describe())
	}

	gone := paddock(t, env, "status", name)
	gone.expectCleanFailure(t, name)
}

// A guest that ignores the power button still running after `paddock stop`; `paddock stop --force` ends it.
func TestStopForce(t *testing.T) {
	requireKVM(t)
	env := newEnv(t)
	name := vmName()
	s := start(t, env, "run", "--kernel", buildGuest(t, "echo"), "--serial", "stdio", "--name", name)
	s.waitFor("READY")
	paddock(t, env, "stop", name).expectExit(t, 0)
	time.Sleep(time.Second)
	if s.exited() {
		t.Fatalf("a guest that does not handle the power button stopped anyway\n%s", s.describe())
	}
	paddock(t, env, "stop", "--force", name).expectExit(t, 0)
	code := s.wait()
	if goPanic.MatchString(s.stderr.String()) {
		t.Fatalf("a Go panic after stop --force\n%s", s.describe())
	}
	t.Logf("paddock run exited with status %d after stop --force", code)
	if strings.Contains(s.stdout.String(), "BYE") {
		t.Errorf("the guest was not stopped by force but quit by itself\n%s", s.describe())
	}
}

// A paused VM runs no guest code: keys typed into it wait, and reach the guest once it is resumed. The power
// button is refused while paused (the guest could not answer it); a paused VM still powers off at once.
func TestPauseAndResume(t *testing.T) {
	requireKVM(t)
	env := newEnv(t)
	name := vmName()
	s := start(t, env, "run", "--kernel", buildGuest(t, "kbdecho"), "--serial", "stdio", "--name", name, "--cpus", "2")
	s.waitFor("KBD-READY")
	paddock(t, env, "pause", name).expectExit(t, 0)
	if got := statusLine(t, env, name, "state"); got != "paused" {
		t.Errorf("status says %q, want paused", got)
	}
	paddock(t, env, "send-keys", name, "a").expectExit(t, 0)
	time.Sleep(500 * time.Millisecond)
	if got := scanCodes(t, s); len(got) != 0 {
		t.Fatalf("a paused guest read %s\n%s", hexBytes(got), s.describe())
	}
	paddock(t, env, "stop", name).expectCleanFailure(t, "paused")
	paddock(t, env, "resume", name).expectExit(t, 0)
	got := waitScanCodes(t, s, 2)
	sameBytes(t, "a key typed while paused", got, []byte{0x1e, 0x9e})
	if got := statusLine(t, env, name, "state"); got != "running" {
		t.Errorf("after resume status says %q", got)
	}
	paddock(t, env, "pause", name).expectExit(t, 0)
	paddock(t, env, "stop", "--force", name).expectExit(t, 0)
	if code := s.wait(); code != 0 {
		t.Errorf("a paused VM powered off with status %d\n%s", code, s.describe())
	}
}
