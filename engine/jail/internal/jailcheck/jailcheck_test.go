//go:build linux && amd64

package jailcheck_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"paddock/engine/control"
	"paddock/engine/jail"
	"paddock/engine/machine"
	"paddock/tests/guests"
)

// The VMM runs in a child (this test binary again) because a jail cannot be lifted.
const (
	envKernel    = "PADDOCK_JAILCHECK_KERNEL"
	envCPUs      = "PADDOCK_JAILCHECK_CPUS"
	envSocket    = "PADDOCK_JAILCHECK_SOCKET"
	envViolation = "PADDOCK_JAILCHECK_VIOLATION"
)

// TestHelperProcess is the jailed VMM; it does nothing in a normal test run.
func TestHelperProcess(t *testing.T) {
	kernel := os.Getenv(envKernel)
	if kernel == "" {
		t.Skip("only runs as the jailed child of another test")
	}
	os.Exit(runJailedVMM(kernel))
}

// runJailedVMM does what `paddock run --name` does, with jail.Apply between set-up and Run.
func runJailedVMM(kernel string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cpus, _ := strconv.Atoi(os.Getenv(envCPUs))
	m, err := machine.New(machine.Config{Kernel: kernel, CPUs: cpus, MemoryMiB: 64, Console: os.Stdout}, log)
	if err != nil {
		fmt.Println("JAILCHECK new:", err)
		return 1
	}
	defer m.Close()
	// The control socket: listening, and one client connected, before the jail; served after it.
	srv, err := control.Listen(os.Getenv(envSocket), m, log)
	if err != nil {
		fmt.Println("JAILCHECK listen:", err)
		return 1
	}
	defer srv.Close()
	client, err := control.Dial(os.Getenv(envSocket))
	if err != nil {
		fmt.Println("JAILCHECK dial:", err)
		return 1
	}
	defer client.Close()

	violation := jail.Kill
	if os.Getenv(envViolation) == "trap" {
		violation = jail.Trap
	}
	rep, err := jail.Apply(jail.Policy{Violation: violation})
	if err != nil {
		fmt.Println("JAILCHECK apply:", err)
		return 1
	}
	fmt.Println("JAILCHECK jailed:", rep)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	statusErr := make(chan error, 1)
	go func() {
		var st control.Status
		err := client.Call(control.OpStatus, nil, &st)
		if err == nil && st.VCPUs != cpus {
			err = fmt.Errorf("status says %d vCPUs", st.VCPUs)
		}
		statusErr <- err
	}()
	outcome, err := m.Run(ctx)
	if err != nil {
		fmt.Println("JAILCHECK run:", err)
		return 1
	}
	if err := <-statusErr; err != nil {
		fmt.Println("JAILCHECK status:", err)
		return 1
	}
	fmt.Println("JAILCHECK status: ok")
	fmt.Println("JAILCHECK outcome:", outcome)
	return 0
}

func TestGuestsBootInTheJail(t *testing.T) {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skip("no /dev/kvm")
	}
	for _, c := range []struct {
		guest string
		cpus  int
		want  []string
	}{
		{"hello", 1, []string{"PADDOCK-GUEST-OK"}},
		{"reset", 2, []string{"BOOT 1", "BOOT 2", "POWEROFF"}}, // a reboot builds a new VM under the jail
		{"smp", 2, []string{"APS 1", "APS-OK"}},
		{"msix", 1, []string{"MSIX-OK n=16"}}, // virtio-rng's worker, getrandom, MSI-X
	} {
		t.Run(c.guest, func(t *testing.T) {
			t.Parallel()
			kernel := guests.Build(t, c.guest)
			socket := filepath.Join(t.TempDir(), "vm.sock")
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
			cmd.Env = append(os.Environ(), envKernel+"="+kernel, envCPUs+"="+strconv.Itoa(c.cpus),
				envSocket+"="+socket, envViolation+"="+os.Getenv("PADDOCK_JAILCHECK_VIOLATION"))
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			describe := func() string {
				return fmt.Sprintf("--- stdout\n%s--- stderr\n%s", stdout.String(), tail(stderr.String(), 40))
			}
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGSYS {
					t.Fatalf("the jail killed the VMM: a system call is missing from the allow-list\n%s", describe())
				}
				t.Fatalf("jailed VMM failed: %v\n%s", err, describe())
			} else if err != nil {
				t.Fatal(err)
			}
			out := stdout.String()
			for _, want := range append(c.want, "JAILCHECK jailed: ", "JAILCHECK status: ok", "JAILCHECK outcome: powered off") {
				if !strings.Contains(out, want) {
					t.Errorf("no %q in the output\n%s", want, describe())
				}
			}
			t.Log(strings.TrimSpace(strings.SplitN(strings.SplitN(out, "JAILCHECK jailed: ", 2)[1], "\n", 2)[0]))
		})
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
