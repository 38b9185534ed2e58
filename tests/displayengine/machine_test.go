package displayengine

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"paddock/engine/machine"
	"paddock/tests/guests"
	"paddock/tests/testenv"
)

// waitTimeout bounds every wait for the guest; PADDOCK_TEST_TIMEOUT (a Go duration) overrides it.
func waitTimeout() time.Duration { return testenv.Timeout(60 * time.Second) }

// vm is a test guest running in this process.
type vm struct {
	*machine.Machine
	serial testenv.SyncBuffer // the guest's serial output
	log    testenv.SyncBuffer // the engine's log
	done   chan struct{}
	err    error
}

// boot builds a test guest and runs it on one vCPU with a width x height screen until the test ends.
func boot(tb testing.TB, guest string, width, height int) *vm {
	tb.Helper()
	testenv.RequireKVM(tb)
	v := &vm{done: make(chan struct{})}
	cfg := machine.Config{
		Kernel: guests.Build(tb, guest), CPUs: 1, MemoryMiB: 64,
		ScreenWidth: width, ScreenHeight: height, Console: &v.serial,
	}
	m, err := machine.New(cfg, slog.New(slog.NewTextHandler(&v.log, nil)))
	if err != nil {
		tb.Fatalf("machine.New: %v", err)
	}
	v.Machine = m
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(v.done)
		_, v.err = m.Run(ctx)
	}()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-v.done:
			m.Close()
		case <-time.After(10 * time.Second):
			tb.Errorf("the machine did not stop within 10s of its context ending\n%s", v.describe())
		}
	})
	return v
}

func (v *vm) describe() string {
	return fmt.Sprintf("--- serial ---\n%s\n--- engine log ---\n%s", v.serial.String(), v.log.String())
}

// waitFor waits until the guest's serial output has a line that is exactly want.
func (v *vm) waitFor(tb testing.TB, want string) {
	tb.Helper()
	v.waitForCount(tb, want, 1)
}

// waitForCount waits until the guest's serial output has n lines that are exactly want.
func (v *vm) waitForCount(tb testing.TB, want string, n int) {
	tb.Helper()
	deadline := time.Now().Add(waitTimeout())
	for countLines(v.serial.String(), want) < n {
		select {
		case <-v.done:
			tb.Fatalf("the machine stopped (%v) before the guest printed %q\n%s", v.err, want, v.describe())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no %q (%d times) from the guest within %v\n%s", want, n, waitTimeout(), v.describe())
		}
		time.Sleep(time.Millisecond)
	}
	if strings.Contains(v.serial.String(), "GUEST-EXCEPTION") {
		tb.Fatalf("the guest took an exception\n%s", v.describe())
	}
}

func countLines(out, want string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimRight(l, "\r") == want {
			n++
		}
	}
	return n
}
