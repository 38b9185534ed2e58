// Package jail confines the calling process once it holds everything it needs: no_new_privs, a Landlock ruleset
// that allows only the paths a policy lists (and no TCP), and a seccomp allow-list of the system calls a Go VMM
// makes after set-up. Descriptors opened before Apply (KVM, disk images, sockets, memfds) keep working; new files,
// new sockets, exec, ptrace and the kernel's other large attack surfaces do not.
package jail

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
)

// Action is what the seccomp filter does with a system call outside its allow-list.
type Action int

// Actions for a refused system call.
const (
	// Kill ends the whole process with SIGSYS: the default, and the only safe one in production.
	Kill Action = iota
	// Trap refuses the call and raises SIGSYS in the calling thread; the Go runtime then dies printing the
	// goroutine that made the call, which names the missing system call's caller. For development.
	Trap
	// Log lets the call through and logs it to the kernel's audit log. For finding a workload's system calls.
	Log
)

func (a Action) String() string {
	switch a {
	case Kill:
		return "kill the process"
	case Trap:
		return "trap (SIGSYS)"
	case Log:
		return "log and allow"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Policy says what a jailed process may still reach by path. The zero Policy allows no path at all, which is what
// the VMM needs after set-up.
type Policy struct {
	// ReadOnlyPaths may be read (files) and listed (directories), with everything beneath them.
	ReadOnlyPaths []string
	// ReadWritePaths may also be written, truncated, and have files, directories and symlinks made and removed
	// beneath them. Never device nodes, sockets or FIFOs, and nothing may be executed.
	ReadWritePaths []string
	// RequireLandlock makes Apply fail where Landlock cannot confine every thread, instead of reporting it. A
	// policy that lists paths always requires it: without Landlock, allowing open(2) would allow every file.
	RequireLandlock bool
	// Violation is what a refused system call does (Kill unless a developer asks otherwise).
	Violation Action
}

func (p Policy) listsPaths() bool { return len(p.ReadOnlyPaths)+len(p.ReadWritePaths) > 0 }

// LandlockStatus is what Landlock does, or why it does nothing.
type LandlockStatus struct {
	// ABI is the kernel's Landlock ABI version; 0 when Landlock is absent or disabled.
	ABI int
	// AllThreads says the kernel and this binary let a ruleset be enforced on every thread of the process: the
	// kernel has LANDLOCK_RESTRICT_SELF_TSYNC (ABI 8), or the binary is built without cgo so the Go runtime can
	// run the system call on each of its threads.
	AllThreads bool
	// Enforced says a ruleset now confines every thread (Apply only).
	Enforced bool
	// HandledFS, HandledNet and Scoped are the access rights the ruleset handles (denies unless a rule allows);
	// in a Probe, those it would handle.
	HandledFS, HandledNet, Scoped uint64
	// Reason explains why Landlock is absent, partial or not enforced; empty when all is well.
	Reason string
}

// SeccompStatus is what the seccomp filter does, or why it does nothing.
type SeccompStatus struct {
	// Available says the kernel has seccomp filters that can kill a whole process.
	Available bool
	// Enforced says the filter is installed on every thread (Apply only).
	Enforced bool
	// Allowed is how many system calls the filter allows, some of them only with checked arguments.
	Allowed int
	// Violation is what the filter does with any other system call.
	Violation Action
	// Filtered says the process was already under a seccomp filter: this package's (see Reason), or one from a
	// container runtime, with which a new filter stacks.
	Filtered bool
	// Reason explains why seccomp is absent or not enforced.
	Reason string
}

// Report is what a kernel supports (Probe) or what Apply put in place.
type Report struct {
	NoNewPrivs bool
	Landlock   LandlockStatus
	Seccomp    SeccompStatus
}

// String is one line for logs and `paddock doctor`.
func (r Report) String() string {
	var parts []string
	ll := r.Landlock
	switch {
	case ll.ABI == 0:
		parts = append(parts, "landlock: unavailable ("+ll.Reason+")")
	case ll.Enforced:
		parts = append(parts, fmt.Sprintf("landlock ABI %d: enforced on every thread", ll.ABI))
	case ll.Reason != "":
		parts = append(parts, fmt.Sprintf("landlock ABI %d: not enforced (%s)", ll.ABI, ll.Reason))
	default:
		parts = append(parts, fmt.Sprintf("landlock ABI %d: available", ll.ABI))
	}
	sc := r.Seccomp
	switch {
	case !sc.Available:
		parts = append(parts, "seccomp: unavailable ("+sc.Reason+")")
	case sc.Enforced:
		parts = append(parts, fmt.Sprintf("seccomp: %d system calls allowed, others %s", sc.Allowed, sc.Violation))
	case sc.Filtered:
		parts = append(parts, "seccomp: a filter is in place ("+cmp.Or(sc.Reason, "from outside this process")+")")
	case sc.Reason != "":
		parts = append(parts, "seccomp: not enforced ("+sc.Reason+")")
	default:
		parts = append(parts, "seccomp: available")
	}
	if r.NoNewPrivs {
		parts = append(parts, "no_new_privs")
	}
	return strings.Join(parts, "; ")
}

// ErrLandlockUnavailable means a policy needs Landlock where it cannot confine every thread.
var ErrLandlockUnavailable = errors.New("landlock cannot confine this process")

// ErrAlreadyJailed means Apply was called in a process it had already confined.
var ErrAlreadyJailed = errors.New("this process is already jailed")

// Probe reports what this kernel and binary support, without confining anything. It is safe in a jailed
// process, where it reports little more than that.
func Probe() Report {
	sc, jailed := probeSeccomp()
	if jailed {
		return Report{Seccomp: sc, Landlock: LandlockStatus{Reason: "not probed in a jailed process"}}
	}
	return Report{Landlock: probeLandlock(), Seccomp: sc}
}

// Apply confines the calling process, every thread of it, for the rest of its life: no_new_privs, then Landlock,
// then the seccomp filter. Call it after set-up, once every file, device and socket the process needs is open.
//
// Landlock that cannot be enforced is reported, not an error, unless the policy requires it (RequireLandlock, or
// any path listed); the seccomp filter then still refuses every path-based system call. An error from seccomp
// is always returned: the process must not carry on believing it is jailed. After an error the process may be
// partly confined (no_new_privs, Landlock), never less than before.
func Apply(p Policy) (Report, error) {
	return apply(p)
}
