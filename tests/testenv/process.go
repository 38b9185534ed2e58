package testenv

import (
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Process is a command running in a process group of its own, so that a hung VM and everything it started (a
// viewer window, helpers) are killed together.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
	code int // valid once done is closed
}

// StartProcess starts cmd, prepared by the caller (arguments, environment, stdin, stdout, stderr), in a new
// process group, and kills that group when the test ends if it still runs.
func StartProcess(tb testing.TB, cmd *exec.Cmd) (*Process, error) {
	tb.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		case err != nil:
			p.code = -1
		}
		close(p.done)
	}()
	tb.Cleanup(p.Kill)
	return p, nil
}

// PID is the process's id, which is also its process group's.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Kill kills the whole process group, unless the process has already ended, and waits for the process to end.
// It is safe to call more than once.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the process's exit status once it has ended (-1 if it could not be waited for or was killed by a
// signal); before that it is 0.
func (p *Process) ExitCode() int {
	select {
	case <-p.done:
		return p.code
	default:
		return 0
	}
}

// Wait waits up to d for the process to end and returns its status, or false if it still runs.
func (p *Process) Wait(d time.Duration) (int, bool) {
	select {
	case <-p.done:
		return p.code, true
	case <-time.After(d):
		return 0, false
	}
}
