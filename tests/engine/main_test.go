// Package engine_test boots the purpose-built test guests (tests/guests) through the real `paddock run`, exactly
// as a user would, and checks what the guest reports on its serial line, the exit status and the error text.
package engine_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"paddock/tests/guests"
	"paddock/tests/testenv"
)

var (
	paddockBin      string
	paddockBuildErr error
)

// TestMain builds the paddock binary once for every test in this package.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "paddock-engine-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Both programs, side by side as they are installed: paddock hands `run` and VM processes to paddock-vmm.
	paddockBin, paddockBuildErr = testenv.BuildPaddock(dir)
	if _, err := testenv.BuildLeanVMM(dir); err != nil && paddockBuildErr == nil {
		paddockBuildErr = err
	}
	if paddockBuildErr != nil {
		fmt.Fprintln(os.Stderr, paddockBuildErr)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireKVM skips a test that needs /dev/kvm where there is none, unless PADDOCK_REQUIRE_KVM=1 says this machine
// must have it.
func requireKVM(t *testing.T) {
	t.Helper()
	testenv.RequireKVM(t)
}

// runTimeout bounds every run of paddock; PADDOCK_TEST_TIMEOUT (a Go duration) overrides it on slow machines.
func runTimeout() time.Duration { return testenv.Timeout(60 * time.Second) }

// session is one paddock process: its environment (a private PADDOCK_HOME and runtime dir), output and exit.
// done and code mirror the end of proc for the tests that read them.
type session struct {
	t      *testing.T
	env    []string
	args   []string
	cmd    *exec.Cmd
	proc   *testenv.Process
	stdout testenv.SyncBuffer
	stderr testenv.SyncBuffer
	stdin  io.WriteCloser
	done   chan struct{}
	code   int
}

// newEnv gives a test its own PADDOCK_HOME and XDG_RUNTIME_DIR, shared by every paddock command it runs.
func newEnv(t *testing.T) []string {
	t.Helper()
	return testenv.Env(t)
}

// start runs `paddock args...` in the background with env, in its own process group so that a hung VM and
// anything it started can be killed together. Its stdin is a pipe the test may write to.
func start(t *testing.T, env []string, args ...string) *session {
	t.Helper()
	if paddockBuildErr != nil {
		t.Fatalf("the paddock binary did not build:\n%v", paddockBuildErr)
	}
	s := &session{t: t, env: env, args: args, done: make(chan struct{})}
	s.cmd = exec.Command(paddockBin, args...)
	s.cmd.Env = env
	s.cmd.Stdout = &s.stdout
	s.cmd.Stderr = &s.stderr
	stdin, err := s.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.stdin = stdin
	if s.proc, err = testenv.StartProcess(t, s.cmd); err != nil {
		t.Fatalf("starting paddock: %v", err)
	}
	go func() {
		<-s.proc.Done()
		s.code = s.proc.ExitCode()
		close(s.done)
	}()
	t.Cleanup(s.kill)
	return s
}

// kill kills paddock's process group unless it has ended, and waits until done and code say it has.
func (s *session) kill() {
	s.proc.Kill()
	<-s.done
}

func (s *session) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// describe is what a failure shows: the command and everything it printed so far.
func (s *session) describe() string {
	return fmt.Sprintf("command: paddock %s\n--- serial/stdout ---\n%s\n--- stderr ---\n%s",
		strings.Join(s.args, " "), s.stdout.String(), s.stderr.String())
}

// wait waits for paddock to exit and returns its status; a run that outlives the timeout is killed and fails the
// test with its output so far.
func (s *session) wait() int {
	s.t.Helper()
	select {
	case <-s.done:
		return s.code
	case <-time.After(runTimeout()):
		s.kill()
		s.t.Fatalf("paddock did not exit within %v; killed it\n%s", runTimeout(), s.describe())
		return -1
	}
}

// waitFor waits until the serial output contains want.
func (s *session) waitFor(want string) {
	s.t.Helper()
	deadline := time.Now().Add(runTimeout())
	for !strings.Contains(s.stdout.String(), want) {
		if s.exited() {
			s.t.Fatalf("paddock exited (status %d) before printing %q\n%s", s.code, want, s.describe())
		}
		if time.Now().After(deadline) {
			s.kill()
			s.t.Fatalf("no %q within %v; killed paddock\n%s", want, runTimeout(), s.describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// result is a finished paddock command.
type result struct {
	args   []string
	code   int
	stdout string
	stderr string
}

func (r result) describe() string {
	return fmt.Sprintf("command: paddock %s\nexit status: %d\n--- serial/stdout ---\n%s\n--- stderr ---\n%s",
		strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// paddock runs one paddock command to completion (bounded by runTimeout).
func paddock(t *testing.T, env []string, args ...string) result {
	t.Helper()
	s := start(t, env, args...)
	s.stdin.Close()
	code := s.wait()
	return result{args: args, code: code, stdout: s.stdout.String(), stderr: s.stderr.String()}
}

// runGuest builds a test guest and boots it with `paddock run`, serial on stdout, plus extra flags.
func runGuest(t *testing.T, guest string, extra ...string) result {
	t.Helper()
	requireKVM(t)
	args := append([]string{"run", "--kernel", buildGuest(t, guest), "--serial", "stdio"}, extra...)
	return paddock(t, newEnv(t), args...)
}

// expectExit fails the test unless the command exited with want.
func (r result) expectExit(t *testing.T, want int) {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit status %d, want %d\n%s", r.code, want, r.describe())
	}
}

// serialLines is the guest's output, one trimmed line each.
func serialLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		lines = append(lines, strings.TrimRight(l, "\r"))
	}
	return lines
}

// expectLine fails unless the serial output has a line that is exactly want.
func (r result) expectLine(t *testing.T, want string) {
	t.Helper()
	for _, l := range serialLines(r.stdout) {
		if l == want {
			return
		}
	}
	t.Fatalf("no line %q in the guest's output\n%s", want, r.describe())
}

// noLine fails if the serial output has a line that is exactly unwanted.
func (r result) noLine(t *testing.T, unwanted string) {
	t.Helper()
	for _, l := range serialLines(r.stdout) {
		if l == unwanted {
			t.Fatalf("unexpected line %q in the guest's output\n%s", unwanted, r.describe())
		}
	}
}

// guestHealthy fails if the guest reported an unexpected exception.
func (r result) guestHealthy(t *testing.T) {
	t.Helper()
	if strings.Contains(r.stdout, "GUEST-EXCEPTION") {
		t.Fatalf("the guest took an unexpected exception\n%s", r.describe())
	}
}

var goPanic = regexp.MustCompile(`(?m)^(panic: |goroutine \d+ \[|fatal error: )`)

// expectCleanFailure checks the way a user sees a refused or failed run: a non-zero status, exactly one line
// that mentions each of mentions (case-insensitively), and no Go panic or stack trace.
func (r result) expectCleanFailure(t *testing.T, mentions ...string) string {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("exit status 0, want a failure\n%s", r.describe())
	}
	if goPanic.MatchString(r.stderr) || goPanic.MatchString(r.stdout) {
		t.Fatalf("a Go panic or stack trace instead of an error message\n%s", r.describe())
	}
	// Warnings (the software-KVM notice, WARN/INFO log records) may come too; what remains is the message.
	var errLines []string
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "paddock: warning:") ||
			regexp.MustCompile(`\blevel=(WARN|INFO|DEBUG)\b`).MatchString(l) {
			continue
		}
		errLines = append(errLines, l)
	}
	if len(errLines) != 1 {
		t.Fatalf("want exactly one error line on stderr, got %d\n%s", len(errLines), r.describe())
	}
	line := strings.ToLower(errLines[0])
	for _, m := range mentions {
		if !strings.Contains(line, strings.ToLower(m)) {
			t.Errorf("the error line does not mention %q: %s", m, errLines[0])
		}
	}
	return errLines[0]
}

// field returns the integer after "key=" in line (base 16 if hex), or fails.
func field(t *testing.T, line, key string, base int) uint64 {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(key) + `=([0-9a-fA-F]+)`)
	m := re.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no %s= in %q", key, line)
	}
	v, err := strconv.ParseUint(m[1], base, 64)
	if err != nil {
		t.Fatalf("%s in %q: %v", key, line, err)
	}
	return v
}

// writeFile makes a file of size bytes in a temp dir (sparse beyond head).
func writeFile(t *testing.T, name string, head []byte, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, head, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	return path
}

func buildGuest(t *testing.T, name string) string { return guests.Build(t, name) }
