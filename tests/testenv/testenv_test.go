package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestSyncBufferConcurrentWrites(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprintf(&b, "%d\n", i)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if lines := strings.Count(b.String(), "\n"); lines != 800 {
		t.Fatalf("%d lines after 800 writes", lines)
	}
}

func TestTimeout(t *testing.T) {
	for env, want := range map[string]time.Duration{"": time.Minute, "5s": 5 * time.Second, "soon": time.Minute, "-3s": time.Minute, "0s": time.Minute} {
		t.Setenv("PADDOCK_TEST_TIMEOUT", env)
		if got := Timeout(time.Minute); got != want {
			t.Errorf("PADDOCK_TEST_TIMEOUT=%q: %v, want %v", env, got, want)
		}
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("PADDOCK_HOME", "/nonexistent/home")
	t.Setenv("PADDOCK_LOG", "debug")
	t.Setenv("LANG", "C")
	t.Setenv("PADDOCK_TESTENV_KEPT", "yes")
	vals := map[string][]string{}
	for _, kv := range Env(t, "LANG=en_US.UTF-8") {
		k, v, _ := strings.Cut(kv, "=")
		vals[k] = append(vals[k], v)
	}
	if got := vals["LANG"]; len(got) != 1 || got[0] != "en_US.UTF-8" {
		t.Errorf("LANG %q, want only en_US.UTF-8", got)
	}
	if got := vals["PADDOCK_LOG"]; got != nil {
		t.Errorf("PADDOCK_LOG %q passed on", got)
	}
	if got := vals["PADDOCK_TESTENV_KEPT"]; len(got) != 1 || got[0] != "yes" {
		t.Errorf("an unrelated variable became %q", got)
	}
	for _, k := range []string{"PADDOCK_HOME", "XDG_RUNTIME_DIR"} {
		if len(vals[k]) != 1 {
			t.Fatalf("%s %q, want one private directory", k, vals[k])
		}
		if st, err := os.Stat(vals[k][0]); err != nil || !st.IsDir() {
			t.Errorf("%s=%s is not a directory: %v", k, vals[k][0], err)
		}
	}
	if len(vals["XDG_RUNTIME_DIR"][0]) > 40 {
		t.Errorf("XDG_RUNTIME_DIR %s is too long for socket paths", vals["XDG_RUNTIME_DIR"][0])
	}
}

func TestMedianOf(t *testing.T) {
	type sample struct{ d time.Duration }
	odd := []sample{{5}, {1}, {9}, {3}, {7}}
	if got := MedianOf(odd, func(s sample) time.Duration { return s.d }); got != 5 {
		t.Errorf("median of 5 1 9 3 7: %v, want 5", got)
	}
	even := []int64{40, 10, 30, 20}
	if got := MedianOf(even, func(v int64) int64 { return v }); got != 30 {
		t.Errorf("median of 40 10 30 20: %v, want the upper middle 30", got)
	}
	if even[0] != 40 {
		t.Errorf("MedianOf reordered its input: %v", even)
	}
}

func TestProcessExitCode(t *testing.T) {
	p, err := StartProcess(t, exec.Command("sh", "-c", "exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	code, ended := p.Wait(10 * time.Second)
	if !ended || code != 3 || p.ExitCode() != 3 || !p.Exited() {
		t.Fatalf("Wait = %d, %v; ExitCode %d, Exited %v; want 3 and ended", code, ended, p.ExitCode(), p.Exited())
	}
}

// Kill must end what the process started too: a VM's viewer, or a child that holds its output open.
func TestProcessKillEndsItsGroup(t *testing.T) {
	var out SyncBuffer
	cmd := exec.Command("sh", "-c", "sleep 60 & echo $!; wait")
	cmd.Stdout = &out
	p, err := StartProcess(t, cmd)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.HasSuffix(out.String(), "\n") {
		if time.Now().After(deadline) {
			t.Fatal("the shell did not report its child")
		}
		time.Sleep(5 * time.Millisecond)
	}
	child, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if p.Exited() {
		t.Fatal("the process ended by itself")
	}
	p.Kill()
	p.Kill() // a second call returns at once
	if !p.Exited() || p.ExitCode() != -1 {
		t.Fatalf("after Kill: exited %v, status %d; want killed (-1)", p.Exited(), p.ExitCode())
	}
	for syscall.Kill(child, 0) == nil {
		if stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child)); strings.Contains(string(stat), ") Z ") {
			break // killed, waiting for init to reap it
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child %d outlived Kill", child)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPeakRSS(t *testing.T) {
	kib, err := PeakRSS(os.Getpid())
	if err != nil || kib <= 0 {
		t.Fatalf("PeakRSS of this process: %d KiB, %v", kib, err)
	}
	if _, err := PeakRSS(-1); err == nil {
		t.Error("PeakRSS of no process succeeded")
	}
}
