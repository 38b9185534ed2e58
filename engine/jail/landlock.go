package jail

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Filesystem access rights by the Landlock ABI version that introduced them.
const (
	fsRightsABI1 = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_DIR |
		unix.LANDLOCK_ACCESS_FS_REMOVE_FILE | unix.LANDLOCK_ACCESS_FS_MAKE_CHAR | unix.LANDLOCK_ACCESS_FS_MAKE_DIR |
		unix.LANDLOCK_ACCESS_FS_MAKE_REG | unix.LANDLOCK_ACCESS_FS_MAKE_SOCK | unix.LANDLOCK_ACCESS_FS_MAKE_FIFO |
		unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK | unix.LANDLOCK_ACCESS_FS_MAKE_SYM
	fsRightsABI2 = unix.LANDLOCK_ACCESS_FS_REFER        // renames and links across directories
	fsRightsABI3 = unix.LANDLOCK_ACCESS_FS_TRUNCATE     // truncate(2), O_TRUNC
	fsRightsABI5 = unix.LANDLOCK_ACCESS_FS_IOCTL_DEV    // ioctl on device files opened after the restriction
	fsRightsABI9 = unix.LANDLOCK_ACCESS_FS_RESOLVE_UNIX // connecting to named unix sockets

	netRightsABI4 = unix.LANDLOCK_ACCESS_NET_BIND_TCP | unix.LANDLOCK_ACCESS_NET_CONNECT_TCP

	// Rights that apply to a file itself; a rule on a regular file may grant only these.
	fileRights = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV

	readRights  = unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR
	writeRights = readRights | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE |
		unix.LANDLOCK_ACCESS_FS_REMOVE_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_FILE | unix.LANDLOCK_ACCESS_FS_MAKE_DIR |
		unix.LANDLOCK_ACCESS_FS_MAKE_REG | unix.LANDLOCK_ACCESS_FS_MAKE_SYM | unix.LANDLOCK_ACCESS_FS_REFER

	// landlockTSYNCABI is the first ABI whose landlock_restrict_self can restrict every thread of a process.
	landlockTSYNCABI = 8
)

// rulesetAttr is struct landlock_ruleset_attr as far as this package uses it.
type rulesetAttr struct {
	handledFS, handledNet, scoped uint64
}

// size is how much of the struct an ABI knows; older kernels reject trailing fields they do not know only if
// they are non-zero, but passing the exact size keeps the oldest ones happy too.
func (rulesetAttr) size(abi int) uintptr {
	switch {
	case abi < 4:
		return 8
	case abi < 6:
		return 16
	}
	return 24
}

// landlockRights is what a ruleset handles on ABI abi: every filesystem right the ABI knows, TCP, and the scopes.
// Signals are scoped only where one domain covers every thread (TSYNC); otherwise each thread has a domain of
// its own, and older kernels would then refuse the runtime's signals between its own threads. The seccomp
// filter pins signals to this process anyway.
func landlockRights(abi int) rulesetAttr {
	var r rulesetAttr
	if abi < 1 {
		return r
	}
	r.handledFS = fsRightsABI1
	if abi >= 2 {
		r.handledFS |= fsRightsABI2
	}
	if abi >= 3 {
		r.handledFS |= fsRightsABI3
	}
	if abi >= 4 {
		r.handledNet = netRightsABI4
	}
	if abi >= 5 {
		r.handledFS |= fsRightsABI5
	}
	if abi >= 6 {
		r.scoped = unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
	}
	if abi >= landlockTSYNCABI {
		r.scoped |= unix.LANDLOCK_SCOPE_SIGNAL
	}
	if abi >= 9 {
		r.handledFS |= fsRightsABI9
	}
	return r
}

func landlockABI() (int, error) {
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0, errno
	}
	return int(v), nil
}

// allThreadsSyscallWorks says the Go runtime can run a system call on each of its threads: it cannot in a
// binary linked with cgo (which also covers -race builds).
func allThreadsSyscallWorks() bool {
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_GETPID, 0, 0, 0)
	return errno == 0
}

func probeLandlock() LandlockStatus {
	abi, err := landlockABI()
	switch {
	case errors.Is(err, unix.ENOSYS):
		return LandlockStatus{Reason: "the kernel has no Landlock (it needs Linux 5.13 with CONFIG_SECURITY_LANDLOCK)"}
	case errors.Is(err, unix.EOPNOTSUPP):
		return LandlockStatus{Reason: "Landlock is disabled (add landlock to the kernel's lsm= boot parameter)"}
	case err != nil:
		return LandlockStatus{Reason: fmt.Sprintf("querying Landlock: %v", err)}
	}
	rights := landlockRights(abi)
	st := LandlockStatus{ABI: abi, HandledFS: rights.handledFS, HandledNet: rights.handledNet, Scoped: rights.scoped}
	st.AllThreads = abi >= landlockTSYNCABI || allThreadsSyscallWorks()
	if !st.AllThreads {
		st.Reason = fmt.Sprintf("Landlock ABI %d restricts one thread at a time (ABI %d restricts them all) and this "+
			"binary uses cgo, so the Go runtime cannot restrict each of its threads", abi, landlockTSYNCABI)
	}
	return st
}

// pathRule is one path a ruleset allows, opened (O_PATH) before anything is restricted.
type pathRule struct {
	path   string
	fd     int
	dir    bool
	rights uint64
}

// openPathRules opens every path a policy lists. The caller closes them with closePathRules.
func openPathRules(p Policy) ([]pathRule, error) {
	var rules []pathRule
	add := func(path string, rights uint64) error {
		fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("jail path %s: %w", path, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return fmt.Errorf("jail path %s: %w", path, err)
		}
		rules = append(rules, pathRule{path: path, fd: fd, dir: st.Mode&unix.S_IFMT == unix.S_IFDIR, rights: rights})
		return nil
	}
	for _, path := range p.ReadOnlyPaths {
		if err := add(path, readRights); err != nil {
			closePathRules(rules)
			return nil, err
		}
	}
	for _, path := range p.ReadWritePaths {
		if err := add(path, writeRights); err != nil {
			closePathRules(rules)
			return nil, err
		}
	}
	return rules, nil
}

func closePathRules(rules []pathRule) {
	for _, r := range rules {
		unix.Close(r.fd)
	}
}

// pathBeneathAttr is struct landlock_path_beneath_attr. The kernel's is packed (12 bytes) and reads only those:
// Go's trailing padding is never looked at.
type pathBeneathAttr struct {
	allowed  uint64
	parentFD int32
}

// restrictLandlock builds a ruleset for abi with the given path rules and enforces it on every thread.
func restrictLandlock(abi int, rules []pathRule) (rulesetAttr, error) {
	attr := landlockRights(abi)
	fd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), attr.size(abi), 0)
	if errno == unix.EINVAL && abi >= 9 {
		// A right newer than ABI 7 this package guessed wrong: fall back to the rights of a known ABI.
		abi = 7
		attr = landlockRights(abi)
		fd, _, errno = unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), attr.size(abi), 0)
	}
	if errno != 0 {
		return attr, fmt.Errorf("landlock_create_ruleset: %w", errno)
	}
	defer unix.Close(int(fd))
	for _, r := range rules {
		allowed := r.rights & attr.handledFS
		if !r.dir {
			allowed &= fileRights
		}
		if allowed == 0 {
			continue
		}
		pb := pathBeneathAttr{allowed: allowed, parentFD: int32(r.fd)}
		_, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, fd, unix.LANDLOCK_RULE_PATH_BENEATH,
			uintptr(unsafe.Pointer(&pb)), 0, 0, 0)
		if errno != 0 {
			return attr, fmt.Errorf("landlock_add_rule %s: %w", r.path, errno)
		}
	}
	if abi >= landlockTSYNCABI {
		_, _, errno = unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, unix.LANDLOCK_RESTRICT_SELF_TSYNC, 0)
	} else {
		// Each thread gets its own domain from the same ruleset; threads created later inherit their creator's.
		_, _, errno = syscall.AllThreadsSyscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0)
	}
	if errno != 0 {
		return attr, fmt.Errorf("landlock_restrict_self: %w", errno)
	}
	return attr, nil
}
