//go:build linux && amd64

package jail_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"paddock/engine/jail"
)

// The tests run the jail in a child: this test binary again, told by these variables what to do. A jail cannot be
// lifted, and a refused call may kill the process, so the parent only watches.
const (
	envScenario = "PADDOCK_JAIL_SCENARIO"
	envPolicy   = "PADDOCK_JAIL_POLICY"
	envDir      = "PADDOCK_JAIL_DIR"
	envOutside  = "PADDOCK_JAIL_OUTSIDE"
)

// childResult is what a jailed child printed, step by step, and how it ended.
type childResult struct {
	steps  map[string]string // step name to "ok", "ok <detail>" or the error
	order  []string
	state  *os.ProcessState
	output string
}

func (r childResult) killedBySeccomp() bool {
	ws, ok := r.state.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGSYS
}

// runChild runs scenario jailed under p, with dir (and outside) passed to it.
func runChild(t *testing.T, scenario string, p jail.Policy, dir, outside string) childResult {
	t.Helper()
	pol, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), envScenario+"="+scenario, envPolicy+"="+string(pol), envDir+"="+dir,
		envOutside+"="+outside, "GOTRACEBACK=single")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running the jailed child: %v", err)
	}
	r := childResult{steps: map[string]string{}, state: cmd.ProcessState, output: out.String()}
	s := bufio.NewScanner(strings.NewReader(out.String()))
	for s.Scan() {
		name, val, ok := strings.Cut(s.Text(), ": ")
		if step, found := strings.CutPrefix(name, "step "); ok && found {
			r.steps[step] = val
			r.order = append(r.order, step)
		}
	}
	return r
}

// wantStep fails t unless step reported a value starting with want.
func (r childResult) wantStep(t *testing.T, step, want string) {
	t.Helper()
	got, ok := r.steps[step]
	if !ok {
		t.Errorf("step %q did not report (child %v); output:\n%s", step, r.state, r.output)
		return
	}
	if !strings.HasPrefix(got, want) {
		t.Errorf("step %q: got %q, want %q", step, got, want)
	}
}

// TestHelperProcess is the jailed child; it does nothing in a normal test run.
func TestHelperProcess(t *testing.T) {
	scenario := os.Getenv(envScenario)
	if scenario == "" {
		t.Skip("only runs as the jailed child of another test")
	}
	var p jail.Policy
	if err := json.Unmarshal([]byte(os.Getenv(envPolicy)), &p); err != nil {
		fmt.Println("step policy:", err)
		os.Exit(2)
	}
	c := &child{dir: os.Getenv(envDir), outside: os.Getenv(envOutside)}
	c.setUp()
	rep, err := jail.Apply(p)
	if err != nil {
		c.report("apply", err)
		os.Exit(0)
	}
	c.report("apply", nil, rep.String())
	if scenario == "survive" {
		c.survive()
	} else if name, ok := strings.CutPrefix(scenario, "forbid:"); ok {
		c.forbidden(name)
	} else if scenario == "readonly" {
		c.readOnly()
	} else if scenario == "readwrite" {
		c.readWrite()
	}
	os.Exit(0)
}

type child struct {
	dir, outside string
	parent       int
	kvm          int // -1 without /dev/kvm
	pair         [2]int
	mu           sync.Mutex
}

func (c *child) report(step string, err error, detail ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err != nil:
		var errno unix.Errno
		if errors.As(err, &errno) {
			fmt.Printf("step %s: %s\n", step, unix.ErrnoName(errno))
		} else {
			fmt.Printf("step %s: error %v\n", step, err)
		}
	case len(detail) > 0:
		fmt.Printf("step %s: ok %s\n", step, strings.Join(detail, " "))
	default:
		fmt.Printf("step %s: ok\n", step)
	}
}

// setUp opens what a VMM opens before it is jailed.
func (c *child) setUp() {
	c.kvm = -1
	c.parent = os.Getppid()
	// The children the jail kills would otherwise dump core.
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	if fd, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0); err == nil {
		c.kvm = fd
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fmt.Println("step socketpair:", err)
		os.Exit(2)
	}
	c.pair = pair
}

// survive is what a jailed VMM does all day; every step must work, and every path must be refused.
func (c *child) survive() {
	// Threads: goroutines locked to threads force new ones, and a goroutine that exits locked ends its thread.
	before := pprof.Lookup("threadcreate").Count()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			if i%2 == 0 {
				defer runtime.UnlockOSThread()
			}
			x := 0
			for j := range 1_000_000 {
				x += j
			}
			_ = x
			time.Sleep(5 * time.Millisecond)
		}()
	}
	wg.Wait()
	c.report("threads", nil, fmt.Sprintf("%d new", pprof.Lookup("threadcreate").Count()-before))

	// Timers and sleeps, through the runtime's poller.
	start := time.Now()
	time.Sleep(2 * time.Millisecond)
	fired := make(chan struct{})
	time.AfterFunc(time.Millisecond, func() { close(fired) })
	<-fired
	tick := time.NewTicker(time.Millisecond)
	for range 3 {
		<-tick.C
	}
	tick.Stop()
	if time.Since(start) < 2*time.Millisecond {
		c.report("timers", errors.New("the clock did not move"))
	} else {
		c.report("timers", nil)
	}

	// A socketpair made before the jail, read and written through the poller.
	c.report("socketpair", c.pingPong())

	// memfd: created, sized, mapped, written and read back.
	c.report("memfd", memfdRoundTrip())

	// KVM on the descriptor opened before the jail.
	if c.kvm < 0 {
		c.report("kvm", nil, "skipped: no /dev/kvm")
	} else {
		v, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(c.kvm), 0xAE00, 0) // KVM_GET_API_VERSION
		if errno != 0 {
			c.report("kvm", errno)
		} else {
			c.report("kvm", nil, fmt.Sprint(v))
		}
	}

	buf := make([]byte, 32)
	_, err := rand.Read(buf)
	c.report("getrandom", err)
	runtime.GC()
	debug.FreeOSMemory()
	c.report("gc", nil)

	// Refused with an error, not a kill.
	_, err = os.Open("/etc/hostname")
	c.report("open", err)
	_, err = os.Create(filepath.Join(c.dir, "new"))
	c.report("create", err)
	_, err = os.Stat("/etc/hostname")
	c.report("stat", err)
	_, err = time.LoadLocation("Europe/Paris")
	c.report("timezone", err)
	var ch byte = 'x'
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(c.pair[0]), unix.TIOCSTI, uintptr(unsafe.Pointer(&ch)))
	c.report("tiocsti", errnoErr(errno))
	c.report("kill-self", unix.Kill(os.Getpid(), 0))
	c.report("kill-parent", unix.Kill(c.parent, 0))
	_, err = unix.FcntlInt(uintptr(c.pair[0]), unix.F_SETOWN, c.parent)
	c.report("fcntl-setown", err)
	c.report("prctl-dumpable", unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0))
	_, _, errno = unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	c.report("clone3", errnoErr(errno))

	// Asking again is answered, not killed.
	c.report("probe-again", nil, jail.Probe().String())
	_, err = jail.Apply(jail.Policy{})
	c.report("apply-again", err)
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func (c *child) pingPong() error {
	for _, fd := range c.pair {
		if err := unix.SetNonblock(fd, true); err != nil {
			return err
		}
	}
	a, b := os.NewFile(uintptr(c.pair[0]), "a"), os.NewFile(uintptr(c.pair[1]), "b")
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 4)
		if err := b.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			done <- err
			return
		}
		n, err := b.Read(buf)
		if err == nil && string(buf[:n]) != "ping" {
			err = fmt.Errorf("read %q", buf[:n])
		}
		done <- err
	}()
	time.Sleep(time.Millisecond) // let the reader park in the poller
	if _, err := a.Write([]byte("ping")); err != nil {
		return err
	}
	return <-done
}

func memfdRoundTrip() error {
	fd, err := unix.MemfdCreate("jail-test", unix.MFD_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Ftruncate(fd, 4096); err != nil {
		return err
	}
	m, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	copy(m[100:], "pixels")
	if err := unix.Munmap(m); err != nil {
		return err
	}
	got := make([]byte, 6)
	if _, err := unix.Pread(fd, got, 100); err != nil {
		return err
	}
	if string(got) != "pixels" {
		return fmt.Errorf("read back %q", got)
	}
	return nil
}

// forbidden makes one call the jail must kill the process for. The arguments make each call fail harmlessly
// should the filter let it through, and the child then says so.
func (c *child) forbidden(name string) {
	var errno unix.Errno
	sys := func(nr uintptr, args ...uintptr) {
		var a [6]uintptr
		copy(a[:], args)
		_, _, errno = unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	}
	bad := ^uintptr(0)
	switch name {
	case "execve":
		errno = unix.Exec("/bin/true", []string{"true"}, nil).(unix.Errno)
	case "execveat":
		sys(unix.SYS_EXECVEAT, bad, 0, 0, 0, 0)
	case "clone-process":
		sys(unix.SYS_CLONE, unix.CLONE_SIGHAND|unix.CLONE_THREAD) // no CLONE_VM: EINVAL if allowed
	case "clone-namespace":
		sys(unix.SYS_CLONE, unix.CLONE_VM|unix.CLONE_FS|unix.CLONE_FILES|unix.CLONE_SIGHAND|unix.CLONE_THREAD|
			unix.CLONE_NEWUSER) // EINVAL if allowed
	case "socket-inet":
		sys(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, 0)
	case "socket-unix":
		sys(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM, 0)
	case "connect":
		sys(unix.SYS_CONNECT, bad, 0, 0)
	case "ptrace":
		sys(unix.SYS_PTRACE, bad, 0, 0, 0)
	case "mount":
		sys(unix.SYS_MOUNT, 0, 0, 0, 0, 0)
	case "bpf":
		sys(unix.SYS_BPF, bad, 0, 0)
	case "kexec_load":
		sys(unix.SYS_KEXEC_LOAD, 0, 0, 0, bad)
	case "init_module":
		sys(unix.SYS_INIT_MODULE, 0, 0, 0)
	case "keyctl":
		sys(unix.SYS_KEYCTL, bad, 0, 0, 0, 0)
	case "userfaultfd":
		sys(unix.SYS_USERFAULTFD, bad)
	case "perf_event_open":
		sys(unix.SYS_PERF_EVENT_OPEN, 0, 0, bad, bad, 0)
	case "personality":
		sys(unix.SYS_PERSONALITY, 0xffffffff)
	case "unshare":
		sys(unix.SYS_UNSHARE, bad)
	case "setns":
		sys(unix.SYS_SETNS, bad, 0)
	case "mmap-exec":
		sys(unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, bad, 0)
	case "mprotect-exec":
		sys(unix.SYS_MPROTECT, 0, 4096, unix.PROT_READ|unix.PROT_EXEC)
	case "chmod":
		sys(unix.SYS_FCHMODAT, bad, 0, 0o777)
	case "x32":
		sys(0x40000000 | unix.SYS_GETPID)
	default:
		fmt.Println("step forbidden: unknown call", name)
		return
	}
	c.report("returned", errnoErr(errno))
}

// readOnly runs under a policy with c.dir read-only.
func (c *child) readOnly() {
	data, err := os.ReadFile(filepath.Join(c.dir, "file"))
	c.report("read", err, string(data))
	data, err = os.ReadFile(filepath.Join(c.dir, "sub", "deeper"))
	c.report("read-beneath", err, string(data))
	entries, err := os.ReadDir(c.dir)
	c.report("list", err, fmt.Sprint(len(entries)))
	_, err = os.OpenFile(filepath.Join(c.dir, "file"), os.O_WRONLY, 0)
	c.report("write", err)
	_, err = os.Create(filepath.Join(c.dir, "new"))
	c.report("create", err)
	c.report("remove", os.Remove(filepath.Join(c.dir, "file")))
	_, err = os.ReadFile(filepath.Join(c.outside, "secret"))
	c.report("read-outside", err)
	_, err = os.ReadFile("/proc/self/status")
	c.report("read-proc", err)
}

// readWrite runs under a policy with c.dir read-write.
func (c *child) readWrite() {
	path := filepath.Join(c.dir, "new")
	c.report("create", os.WriteFile(path, []byte("written"), 0o600))
	data, err := os.ReadFile(path)
	c.report("read", err, string(data))
	c.report("mkdir", os.Mkdir(filepath.Join(c.dir, "d"), 0o700))
	c.report("rename", os.Rename(path, filepath.Join(c.dir, "d", "moved")))
	c.report("symlink", os.Symlink("moved", filepath.Join(c.dir, "d", "link")))
	c.report("remove", os.Remove(filepath.Join(c.dir, "d", "link")))
	c.report("create-outside", os.WriteFile(filepath.Join(c.outside, "x"), nil, 0o600))
	_, err = os.ReadFile(filepath.Join(c.outside, "secret"))
	c.report("read-outside", err)
	c.report("rename-out", os.Rename(filepath.Join(c.dir, "d", "moved"), filepath.Join(c.outside, "moved")))
}

func TestJailedProcessKeepsWorking(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runChild(t, "survive", jail.Policy{}, dir, "")
	if !r.state.Success() {
		t.Fatalf("jailed child failed (%v):\n%s", r.state, r.output)
	}
	r.wantStep(t, "apply", "ok")
	t.Logf("jail: %s", r.steps["apply"])
	for _, step := range []string{"threads", "timers", "socketpair", "memfd", "kvm", "getrandom", "gc", "kill-self"} {
		r.wantStep(t, step, "ok")
	}
	var threads int
	if _, err := fmt.Sscanf(r.steps["threads"], "ok %d new", &threads); err != nil || threads < 1 {
		t.Errorf("the jailed child started no thread (%q): clone is not exercised", r.steps["threads"])
	}
	if _, err := os.Stat("/dev/kvm"); err == nil {
		r.wantStep(t, "kvm", "ok 12")
	}
	r.wantStep(t, "open", "EACCES")
	r.wantStep(t, "create", "EACCES")
	r.wantStep(t, "stat", "EACCES")
	r.wantStep(t, "timezone", "EACCES")
	r.wantStep(t, "tiocsti", "EPERM")
	r.wantStep(t, "kill-parent", "EPERM")
	r.wantStep(t, "fcntl-setown", "EPERM")
	r.wantStep(t, "prctl-dumpable", "EPERM")
	r.wantStep(t, "clone3", "ENOSYS")
	r.wantStep(t, "probe-again", "ok landlock: unavailable (not probed in a jailed process); seccomp: a filter is in place (this process is already jailed)")
	r.wantStep(t, "apply-again", "error this process is already jailed")
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the jailed child created %v", entries)
	}
}

func TestJailKillsForbiddenCalls(t *testing.T) {
	t.Parallel()
	for _, call := range []string{
		"execve", "execveat", "clone-process", "clone-namespace", "socket-inet", "socket-unix", "connect",
		"ptrace", "mount", "bpf", "kexec_load", "init_module", "keyctl", "userfaultfd", "perf_event_open",
		"personality", "unshare", "setns", "mmap-exec", "mprotect-exec", "chmod", "x32",
	} {
		t.Run(call, func(t *testing.T) {
			t.Parallel()
			r := runChild(t, "forbid:"+call, jail.Policy{}, t.TempDir(), "")
			r.wantStep(t, "apply", "ok")
			if !r.killedBySeccomp() {
				t.Errorf("%s: child ended with %v, want killed by SIGSYS; output:\n%s", call, r.state, r.output)
			}
			if got, ok := r.steps["returned"]; ok {
				t.Errorf("%s returned %q under the jail", call, got)
			}
		})
	}
}

// landlockUsable says whether this test binary can confine paths; -race builds use cgo, which needs Landlock's
// TSYNC (ABI 8) for that.
func landlockUsable(t *testing.T) bool {
	ll := jail.Probe().Landlock
	if ll.ABI == 0 || !ll.AllThreads {
		t.Logf("Landlock cannot confine this binary: %s", ll.Reason)
		return false
	}
	return true
}

func TestReadOnlyPath(t *testing.T) {
	t.Parallel()
	dir, outside := t.TempDir(), t.TempDir()
	mustWrite(t, filepath.Join(dir, "file"), "visible")
	mustWrite(t, filepath.Join(dir, "sub", "deeper"), "deep")
	mustWrite(t, filepath.Join(outside, "secret"), "hidden")
	r := runChild(t, "readonly", jail.Policy{ReadOnlyPaths: []string{dir}}, dir, outside)
	if !r.state.Success() {
		t.Fatalf("jailed child failed (%v):\n%s", r.state, r.output)
	}
	if !landlockUsable(t) {
		r.wantStep(t, "apply", "error landlock cannot confine this process")
		return
	}
	r.wantStep(t, "apply", "ok")
	r.wantStep(t, "read", "ok visible")
	r.wantStep(t, "read-beneath", "ok deep")
	r.wantStep(t, "list", "ok 2")
	r.wantStep(t, "write", "EACCES")
	r.wantStep(t, "create", "EACCES")
	r.wantStep(t, "remove", "EACCES")
	r.wantStep(t, "read-outside", "EACCES")
	r.wantStep(t, "read-proc", "EACCES")
	if _, err := os.Stat(filepath.Join(dir, "file")); err != nil {
		t.Errorf("the read-only file is gone: %v", err)
	}
}

func TestReadWritePath(t *testing.T) {
	t.Parallel()
	dir, outside := t.TempDir(), t.TempDir()
	mustWrite(t, filepath.Join(outside, "secret"), "hidden")
	r := runChild(t, "readwrite", jail.Policy{ReadWritePaths: []string{dir}}, dir, outside)
	if !r.state.Success() {
		t.Fatalf("jailed child failed (%v):\n%s", r.state, r.output)
	}
	if !landlockUsable(t) {
		r.wantStep(t, "apply", "error landlock cannot confine this process")
		return
	}
	r.wantStep(t, "apply", "ok")
	for _, step := range []string{"create", "mkdir", "rename", "symlink", "remove"} {
		r.wantStep(t, step, "ok")
	}
	r.wantStep(t, "read", "ok written")
	r.wantStep(t, "create-outside", "EACCES")
	r.wantStep(t, "read-outside", "EACCES")
	if got := r.steps["rename-out"]; got != "EACCES" && got != "EXDEV" {
		t.Errorf("renaming a file out of the read-write tree: got %q, want EACCES or EXDEV", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "d", "moved")); err != nil {
		t.Errorf("the file written in the jail is not there: %v", err)
	}
}

func TestRequireLandlock(t *testing.T) {
	t.Parallel()
	r := runChild(t, "none", jail.Policy{RequireLandlock: true}, t.TempDir(), "")
	if landlockUsable(t) {
		r.wantStep(t, "apply", "ok landlock ABI")
	} else {
		r.wantStep(t, "apply", "error landlock cannot confine this process")
	}
}

func TestProbe(t *testing.T) {
	rep := jail.Probe()
	abi, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno == 0 && rep.Landlock.ABI != int(abi) {
		t.Errorf("Probe says Landlock ABI %d, the kernel says %d", rep.Landlock.ABI, abi)
	}
	if errno != 0 && rep.Landlock.ABI != 0 {
		t.Errorf("Probe says Landlock ABI %d where the kernel has none (%v)", rep.Landlock.ABI, errno)
	}
	if _, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err == nil && !rep.Seccomp.Available {
		t.Errorf("Probe says seccomp is unavailable: %s", rep.Seccomp.Reason)
	}
	if rep.Landlock.Enforced || rep.Seccomp.Enforced || rep.NoNewPrivs {
		t.Errorf("Probe reports a jail that is not there: %+v", rep)
	}
	t.Log(rep)
}

func mustWrite(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
