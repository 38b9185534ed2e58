//go:build linux && amd64

package jail

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrSeccompUnavailable means the kernel cannot run the seccomp filter.
var ErrSeccompUnavailable = errors.New("seccomp is unavailable")

func apply(p Policy) (Report, error) {
	// no_new_privs and the filter go on this thread first and spread from it; keep them on one thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	sc, jailed := probeSeccomp()
	if jailed {
		return Report{Seccomp: sc}, ErrAlreadyJailed
	}
	rep := Report{Landlock: probeLandlock(), Seccomp: sc}
	rep.Seccomp.Violation = p.Violation
	if !rep.Seccomp.Available {
		return rep, fmt.Errorf("%w: %s", ErrSeccompUnavailable, rep.Seccomp.Reason)
	}
	landlockOK := rep.Landlock.ABI > 0 && rep.Landlock.AllThreads
	if !landlockOK && (p.RequireLandlock || p.listsPaths()) {
		why := "the policy requires it"
		if p.listsPaths() {
			why = "the policy lists paths, and only Landlock can confine opens to them"
		}
		return rep, fmt.Errorf("%w (%s): %s", ErrLandlockUnavailable, why, rep.Landlock.Reason)
	}

	prepareRuntime()

	// Open the policy's paths before anything is restricted, so a bad path fails without side effects.
	rules, err := openPathRules(p)
	if err != nil {
		return rep, err
	}
	defer closePathRules(rules)

	// Landlock on every thread at once needs no_new_privs on every thread first; where the runtime cannot reach
	// them all, this thread's is enough, and the seccomp filter's TSYNC copies it to the others.
	if _, _, errno := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); errno != 0 {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return rep, fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
		}
	}

	if landlockOK {
		attr, err := restrictLandlock(rep.Landlock.ABI, rules)
		if err != nil {
			rep.Landlock.Reason = err.Error()
			if p.RequireLandlock || p.listsPaths() {
				return rep, fmt.Errorf("%w: %w", ErrLandlockUnavailable, err)
			}
		} else {
			rep.Landlock.Enforced = true
			rep.Landlock.HandledFS, rep.Landlock.HandledNet, rep.Landlock.Scoped = attr.handledFS, attr.handledNet, attr.scoped
		}
	}

	allowed, err := installSeccomp(p)
	if err != nil {
		rep.Seccomp.Reason = err.Error()
		return rep, err
	}
	rep.Seccomp.Enforced = true
	rep.Seccomp.Allowed = allowed
	rep.NoNewPrivs = true
	return rep, nil
}

// prepareRuntime does, before the jail, what the standard library would otherwise do lazily, and fail at, inside
// it: loading the local time zone (/etc/localtime) that log timestamps use.
func prepareRuntime() {
	_, _ = time.Now().Zone()
}
