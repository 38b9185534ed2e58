// Package engine_test boots the purpose-built test guests (tests/guests) through the real `paddock run`, exactly
// as a user would, and checks what the guest reports on its serial line, the exit status and the error text.
package engine_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"paddock/tests/guests"
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
	paddockBin = filepath.Join(dir, "paddock")
	// Both programs, side by side as they are installed: paddock hands `run` and VM processes to paddock-vmm.
	cmd := exec.Command(goTool(), "build", "-o", paddockBin, "paddock")
	if out, err := cmd.CombinedOutput(); err != nil {
		paddockBuildErr = fmt.Errorf("go build paddock: %v\n%s", err, out)
		fmt.Fprintln(os.Stderr, paddockBuildErr)
	}
	lean := exec.Command(goTool(), "build", "-o", filepath.Join(dir, "paddock-vmm"), "paddock/ui/paddock-vmm")
	lean.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := lean.CombinedOutput(); err != nil && paddockBuildErr == nil {
		paddockBuildErr = fmt.Errorf("go build paddock-vmm: %v\n%s", err, out)
		fmt.Fprintln(os.Stderr, paddockBuildErr)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

// requireKVM skips a test that needs /dev/kvm where there is none, unless PADDOCK_REQUIRE_KVM=1 says this machine
// must have it.
func requireKVM(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err == nil {
		f.Close()
		return
	}
	if os.Getenv("PADDOCK_REQUIRE_KVM") == "1" {
		t.Fatalf("/dev/kvm is not usable (%v) and PADDOCK_REQUIRE_KVM=1", err)
	}
	t.Skipf("skipped: /dev/kvm is not usable here (%v); set PADDOCK_REQUIRE_KVM=1 to make this a failure", err)
}

// runTimeout bounds every run of paddock; PADDOCK_TEST_TIMEOUT (a Go duration) overrides it on slow machines.
func runTimeout() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("PADDOCK_TEST_TIMEOUT")); err == nil && d > 0 {
		return d
	}
	return 60 * time.Second
}

// syncBuffer collects a stream while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// session is one paddock process: its environment (a private PADDOCK_HOME and runtime dir), output and exit.
type session struct {
	t      *testing.T
	env    []string
	args   []string
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	stdin  io.WriteCloser
	done   chan struct{}
	code   int
}

// newEnv gives a test its own PADDOCK_HOME and XDG_RUNTIME_DIR, shared by every paddock command it runs.
func newEnv(t *testing.T) []string {
	t.Helper()
	home := t.TempDir()
	// Sockets live under the runtime dir: keep its path short (sun_path holds 108 bytes).
	runtimeDir, err := os.MkdirTemp("", "pdk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(runtimeDir) })
	env := []string{"PADDOCK_HOME=" + home, "XDG_RUNTIME_DIR=" + runtimeDir}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k != "PADDOCK_HOME" && k != "XDG_RUNTIME_DIR" && k != "PADDOCK_LOG" {
			env = append(env, kv)
		}
	}
	return env
}

// start runs `paddock args...` in the background with env. Its stdin is a pipe the test may write to.
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
	// Its own process group, so a hung VM and anything it started can be killed together.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := s.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.stdin = stdin
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting paddock: %v", err)
	}
	go func() {
		err := s.cmd.Wait()
		s.code = 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			s.code = ee.ExitCode()
		} else if err != nil {
			s.code = -1
		}
		close(s.done)
	}()
	t.Cleanup(s.kill)
	return s
}

func (s *session) kill() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
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
