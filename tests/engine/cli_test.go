package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// --serial FILE sends the guest's console to the file and nothing to stdout; --serial none drops it.
func TestSerialDestinations(t *testing.T) {
	requireKVM(t)
	t.Run("file", func(t *testing.T) {
		log := filepath.Join(t.TempDir(), "serial.log")
		r := paddock(t, newEnv(t), "run", "--kernel", buildGuest(t, "hello"), "--serial", log)
		r.expectExit(t, 0)
		if strings.Contains(r.stdout, "PADDOCK-GUEST-OK") {
			t.Errorf("guest output on stdout with --serial FILE\n%s", r.describe())
		}
		data, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "PADDOCK-GUEST-OK") {
			t.Errorf("%s holds %q, no PADDOCK-GUEST-OK", log, data)
		}
	})
	t.Run("none", func(t *testing.T) {
		r := paddock(t, newEnv(t), "run", "--kernel", buildGuest(t, "hello"), "--serial", "none")
		r.expectExit(t, 0)
		if strings.Contains(r.stdout, "HELLO") {
			t.Errorf("guest output on stdout with --serial none\n%s", r.describe())
		}
	})
}

// SIGTERM (or Ctrl-C) to `paddock run` stops the VM promptly and says so, without a panic.
func TestRunStopsOnSIGTERM(t *testing.T) {
	requireKVM(t)
	s := start(t, newEnv(t), "run", "--kernel", buildGuest(t, "echo"), "--serial", "stdio")
	s.waitFor("READY")
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.kill()
		t.Fatalf("paddock run did not stop within 10 s of SIGTERM\n%s", s.describe())
	}
	if s.code == 0 {
		t.Errorf("exit status 0 after SIGTERM; a stopped run is not a clean guest power-off\n%s", s.describe())
	}
	if goPanic.MatchString(s.stderr.String()) {
		t.Errorf("a Go panic after SIGTERM\n%s", s.describe())
	}
}

// Two VMs cannot share a name: the second is refused and the first keeps its control socket.
func TestDuplicateName(t *testing.T) {
	requireKVM(t)
	env := newEnv(t)
	name := vmName()
	first := start(t, env, "run", "--kernel", buildGuest(t, "echo"), "--serial", "stdio", "--name", name)
	first.waitFor("READY")
	second := paddock(t, env, "run", "--kernel", buildGuest(t, "echo"), "--serial", "stdio", "--name", name)
	second.expectCleanFailure(t, name)
	if strings.Contains(second.stdout, "READY") {
		t.Errorf("the second VM of the same name booted\n%s", second.describe())
	}
	st := paddock(t, env, "status", name)
	st.expectExit(t, 0)
	paddock(t, env, "stop", "--force", name).expectExit(t, 0)
	first.wait()
}
