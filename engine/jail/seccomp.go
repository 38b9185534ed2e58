//go:build linux && amd64

package jail

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Classic BPF opcodes a seccomp filter uses.
const (
	bpfLoadWord = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJEq      = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJGE      = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	bpfJSet     = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	bpfAnd      = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	bpfRet      = unix.BPF_RET | unix.BPF_K

	// Offsets in struct seccomp_data.
	offNr   = 0
	offArch = 4
	offArgs = 16

	// x32 system calls are the x86-64 numbers with this bit set; nothing here uses that ABI.
	x32SyscallBit = 0x40000000

	maxFilterLen = 4096 // BPF_MAXINSNS
	maxBodyLen   = 255  // a rule's body is skipped with one 8-bit conditional jump

	retAllow = unix.SECCOMP_RET_ALLOW
	retKill  = unix.SECCOMP_RET_KILL_PROCESS
)

func retErrno(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e)&unix.SECCOMP_RET_DATA }

func stmt(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }

func jump(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
}

// loadArg loads the low 32 bits of argument i. Every argument checked here is an int or unsigned int to the kernel
// (or, for clone, only its low 32 bits are used), so the high half cannot change what the call does.
func loadArg(i int) unix.SockFilter { return stmt(bpfLoadWord, uint32(offArgs+8*i)) }

// syscallRule is what the filter does with one system call number.
type syscallRule struct {
	nr   uint32
	name string
	// body runs with the call's number in the accumulator and must end every path in a return. Nil allows the call.
	body []unix.SockFilter
	// refused marks a rule that never allows the call (it only picks the errno).
	refused bool
}

func allow(nr int, name string) syscallRule { return syscallRule{nr: uint32(nr), name: name} }

func refuse(nr int, name string, e unix.Errno) syscallRule {
	return syscallRule{nr: uint32(nr), name: name, body: []unix.SockFilter{stmt(bpfRet, retErrno(e))}, refused: true}
}

// allowArgIn allows the call when argument arg is one of values, and returns deny otherwise.
func allowArgIn(nr int, name string, arg int, deny uint32, values ...uint32) syscallRule {
	body := []unix.SockFilter{loadArg(arg)}
	for _, v := range values {
		body = append(body, jump(bpfJEq, v, 0, 1), stmt(bpfRet, retAllow))
	}
	body = append(body, stmt(bpfRet, deny))
	return syscallRule{nr: uint32(nr), name: name, body: body}
}

// allowArgWithout allows the call when argument arg has none of bits set.
func allowArgWithout(nr int, name string, arg int, bits, deny uint32) syscallRule {
	return syscallRule{nr: uint32(nr), name: name, body: []unix.SockFilter{
		loadArg(arg),
		jump(bpfJSet, bits, 1, 0),
		stmt(bpfRet, retAllow),
		stmt(bpfRet, deny),
	}}
}

// Clone flags of a new thread. The Go runtime passes threadFlags|CLONE_SYSVSEM; glibc's pthread_create (cgo) adds
// TLS and TID bookkeeping. Anything else (a new process, namespaces, vfork, ptrace) is refused.
const (
	threadFlags   = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD
	threadOptions = unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID |
		unix.CLONE_DETACHED | 0xff // CSIGNAL, meaningless for a thread
)

func allowThreadClone(deny uint32) syscallRule {
	return syscallRule{nr: unix.SYS_CLONE, name: "clone", body: []unix.SockFilter{
		loadArg(0),
		stmt(bpfAnd, ^uint32(threadOptions)),
		jump(bpfJEq, threadFlags, 0, 1),
		stmt(bpfRet, retAllow),
		stmt(bpfRet, deny),
	}}
}

// Numbers x/sys does not name on amd64.
const (
	fionbio   = 0x5421 // FIONBIO
	archSetFS = 0x1002 // ARCH_SET_FS
)

// kvmIoctlType is the type byte (bits 8-15 of the request) of every KVM ioctl.
const kvmIoctlType = 0xAE

// allowIoctls allows KVM's ioctls on any descriptor (the VMM's /dev/kvm, VM and vCPU fds), the terminal calls a
// console needs, and FIONBIO. Everything else (TIOCSTI, filesystem and socket ioctls) fails with EPERM. KVM's
// come first: KVM_RUN is the hottest system call a VMM makes.
func allowIoctls() syscallRule {
	body := []unix.SockFilter{
		loadArg(1),
		stmt(bpfAnd, 0xff00),
		jump(bpfJEq, kvmIoctlType<<8, 0, 1),
		stmt(bpfRet, retAllow),
		loadArg(1),
	}
	for _, req := range []uint32{unix.TCGETS, unix.TCSETS, unix.TCSETSW, unix.TCSETSF, unix.TIOCGWINSZ, fionbio} {
		body = append(body, jump(bpfJEq, req, 0, 1), stmt(bpfRet, retAllow))
	}
	body = append(body, stmt(bpfRet, retErrno(unix.EPERM)))
	return syscallRule{nr: unix.SYS_IOCTL, name: "ioctl", body: body}
}

// syscallRules is the filter's policy, in order. deny is the violation action; pid is this process's.
func syscallRules(p Policy, pid int, deny uint32) []syscallRule {
	rules := []syscallRule{
		// First the calls a running VM makes most, since the filter tries the rules in turn: KVM_RUN and the other
		// KVM ioctls, then the runtime's futexes and sleeps.
		allowIoctls(),
		allow(unix.SYS_FUTEX, "futex"),
		allow(unix.SYS_NANOSLEEP, "nanosleep"),
		allow(unix.SYS_EPOLL_PWAIT, "epoll_pwait"),

		// Reading and writing descriptors that are already open: disk images, the serial and control streams,
		// KVM's fds, memfds, pipes and sockets.
		allow(unix.SYS_READ, "read"),
		allow(unix.SYS_WRITE, "write"),
		allow(unix.SYS_READV, "readv"),
		allow(unix.SYS_WRITEV, "writev"),
		allow(unix.SYS_PREAD64, "pread64"),
		allow(unix.SYS_PWRITE64, "pwrite64"),
		allow(unix.SYS_PREADV, "preadv"),
		allow(unix.SYS_PWRITEV, "pwritev"),
		allow(unix.SYS_PREADV2, "preadv2"),
		allow(unix.SYS_PWRITEV2, "pwritev2"),
		allow(unix.SYS_LSEEK, "lseek"),
		allow(unix.SYS_CLOSE, "close"),
		allow(unix.SYS_FSTAT, "fstat"),
		// Disk flushes and sizes, and the framebuffer memfd.
		allow(unix.SYS_FSYNC, "fsync"),
		allow(unix.SYS_FDATASYNC, "fdatasync"),
		allow(unix.SYS_FALLOCATE, "fallocate"),
		allow(unix.SYS_FTRUNCATE, "ftruncate"),
		allow(unix.SYS_MEMFD_CREATE, "memfd_create"),
		// Descriptor flags (non-blocking, close-on-exec), duplicates, record locks and memfd seals; not
		// F_SETOWN/F_SETSIG, which would let the process aim SIGIO at another one.
		allowArgIn(unix.SYS_FCNTL, "fcntl", 1, retErrno(unix.EPERM),
			unix.F_DUPFD, unix.F_DUPFD_CLOEXEC, unix.F_GETFD, unix.F_SETFD, unix.F_GETFL, unix.F_SETFL,
			unix.F_GETLK, unix.F_SETLK, unix.F_SETLKW, unix.F_OFD_GETLK, unix.F_OFD_SETLK, unix.F_OFD_SETLKW,
			unix.F_ADD_SEALS, unix.F_GET_SEALS),

		// Sockets that are already open: the control listener and its connections, socketpairs to the GUI.
		allow(unix.SYS_ACCEPT4, "accept4"),
		allow(unix.SYS_RECVMSG, "recvmsg"),
		allow(unix.SYS_SENDMSG, "sendmsg"),
		allow(unix.SYS_RECVFROM, "recvfrom"),
		allow(unix.SYS_SENDTO, "sendto"),
		allow(unix.SYS_SHUTDOWN, "shutdown"),
		allow(unix.SYS_GETSOCKOPT, "getsockopt"),
		allow(unix.SYS_SETSOCKOPT, "setsockopt"),
		allow(unix.SYS_GETSOCKNAME, "getsockname"),
		allow(unix.SYS_GETPEERNAME, "getpeername"),

		// The Go runtime's network poller, which also runs its timers.
		allow(unix.SYS_EPOLL_CREATE1, "epoll_create1"),
		allow(unix.SYS_EPOLL_CTL, "epoll_ctl"),
		allow(unix.SYS_EPOLL_WAIT, "epoll_wait"),
		allow(unix.SYS_EPOLL_PWAIT2, "epoll_pwait2"),
		allow(unix.SYS_EVENTFD2, "eventfd2"),
		allow(unix.SYS_PIPE2, "pipe2"),

		// Memory: the Go heap and stacks, guest RAM for a reboot, KVM's vCPU run areas. Never executable: the VMM
		// loads no code after start, so a mapping made executable is an exploit.
		allowArgWithout(unix.SYS_MMAP, "mmap", 2, unix.PROT_EXEC, deny),
		allowArgWithout(unix.SYS_MPROTECT, "mprotect", 2, unix.PROT_EXEC, deny),
		allow(unix.SYS_MUNMAP, "munmap"),
		allow(unix.SYS_MADVISE, "madvise"),
		// The runtime names its anonymous mappings ("[anon: Go: heap]"); no other prctl is needed after start.
		allowArgIn(unix.SYS_PRCTL, "prctl", 0, retErrno(unix.EPERM), unix.PR_SET_VMA),

		// Threads: the runtime starts new ones at any time (a goroutine locked to its thread, a blocked system
		// call). clone only for a thread; clone3 hides its flags from the filter, so it answers ENOSYS and glibc
		// falls back to clone. A non-cgo Go thread sets its TLS base with arch_prctl(ARCH_SET_FS); glibc threads
		// register robust futex lists and rseq areas.
		allowThreadClone(deny),
		refuse(unix.SYS_CLONE3, "clone3", unix.ENOSYS),
		allowArgIn(unix.SYS_ARCH_PRCTL, "arch_prctl", 0, retErrno(unix.EPERM), archSetFS),
		allow(unix.SYS_SET_ROBUST_LIST, "set_robust_list"),
		allow(unix.SYS_RSEQ, "rseq"),
		allow(unix.SYS_GETTID, "gettid"),
		allow(unix.SYS_EXIT, "exit"),
		allow(unix.SYS_EXIT_GROUP, "exit_group"),
		allow(unix.SYS_SCHED_YIELD, "sched_yield"),
		allow(unix.SYS_SCHED_GETAFFINITY, "sched_getaffinity"), // GOMAXPROCS follows the CPUs it may use

		// Signals: the runtime's handlers, preemption (SIGURG to its own threads, which also kicks vCPUs out of
		// KVM_RUN) and crash reports. Sending is pinned to this process.
		allow(unix.SYS_RT_SIGACTION, "rt_sigaction"),
		allow(unix.SYS_RT_SIGPROCMASK, "rt_sigprocmask"),
		allow(unix.SYS_RT_SIGRETURN, "rt_sigreturn"),
		allow(unix.SYS_SIGALTSTACK, "sigaltstack"),
		allow(unix.SYS_RESTART_SYSCALL, "restart_syscall"),
		allow(unix.SYS_GETPID, "getpid"),
		allowArgIn(unix.SYS_TGKILL, "tgkill", 0, retErrno(unix.EPERM), uint32(pid)),
		allowArgIn(unix.SYS_KILL, "kill", 0, retErrno(unix.EPERM), uint32(pid)),

		// Waiting and time.
		allow(unix.SYS_CLOCK_NANOSLEEP, "clock_nanosleep"),
		allow(unix.SYS_CLOCK_GETTIME, "clock_gettime"), // the vDSO's fallback
		allow(unix.SYS_GETTIMEOFDAY, "gettimeofday"),

		// Entropy for virtio-rng and crypto/rand, and the kernel release some libraries check.
		allow(unix.SYS_GETRANDOM, "getrandom"),
		allow(unix.SYS_UNAME, "uname"),
	}

	// System calls that name a path. Without listed paths they fail with EACCES, so a library that looks for a
	// file (time zones, say) carries on without it. With paths, Landlock decides which paths; stat-like calls
	// still reveal metadata (not contents) anywhere, which Landlock does not cover.
	readPath := []struct {
		nr   int
		name string
	}{
		{unix.SYS_OPENAT, "openat"},
		{unix.SYS_OPENAT2, "openat2"},
		{unix.SYS_NEWFSTATAT, "newfstatat"},
		{unix.SYS_STATX, "statx"},
		{unix.SYS_READLINKAT, "readlinkat"},
		{unix.SYS_FACCESSAT, "faccessat"},
		{unix.SYS_FACCESSAT2, "faccessat2"},
		{unix.SYS_GETDENTS64, "getdents64"},
		{unix.SYS_FSTATFS, "fstatfs"}, // a file server answers statfs
	}
	writePath := []struct {
		nr   int
		name string
	}{
		{unix.SYS_MKDIRAT, "mkdirat"},
		{unix.SYS_UNLINKAT, "unlinkat"},
		{unix.SYS_RENAMEAT, "renameat"},
		{unix.SYS_RENAMEAT2, "renameat2"},
		{unix.SYS_SYMLINKAT, "symlinkat"},
		{unix.SYS_LINKAT, "linkat"},
	}
	for _, c := range readPath {
		if p.listsPaths() {
			rules = append(rules, allow(c.nr, c.name))
		} else {
			rules = append(rules, refuse(c.nr, c.name, unix.EACCES))
		}
	}
	for _, c := range writePath {
		if len(p.ReadWritePaths) > 0 {
			rules = append(rules, allow(c.nr, c.name))
		} else {
			rules = append(rules, refuse(c.nr, c.name, unix.EACCES))
		}
	}
	// What a file server's client may change besides names: permissions and times. Only a process with writable
	// paths needs them; for anyone else they stay outside the list (and kill).
	if len(p.ReadWritePaths) > 0 {
		rules = append(rules,
			allow(unix.SYS_FCHMOD, "fchmod"), allow(unix.SYS_FCHMODAT, "fchmodat"), allow(unix.SYS_UTIMENSAT, "utimensat"))
	}
	// The old path calls Go never makes; a C library might.
	for _, c := range []struct {
		nr   int
		name string
	}{
		{unix.SYS_OPEN, "open"}, {unix.SYS_CREAT, "creat"}, {unix.SYS_STAT, "stat"}, {unix.SYS_LSTAT, "lstat"},
		{unix.SYS_ACCESS, "access"}, {unix.SYS_READLINK, "readlink"},
	} {
		rules = append(rules, refuse(c.nr, c.name, unix.EACCES))
	}
	return rules
}

// buildFilter assembles the program: check the architecture, refuse x32, then each rule in turn; anything else
// gets deny. A rule is "if nr == N run body, else skip it"; bodies end in returns, so the accumulator still holds
// the call's number for the next rule.
func buildFilter(rules []syscallRule, deny uint32) ([]unix.SockFilter, error) {
	prog := []unix.SockFilter{
		stmt(bpfLoadWord, offArch),
		jump(bpfJEq, unix.AUDIT_ARCH_X86_64, 1, 0),
		stmt(bpfRet, retKill),
		stmt(bpfLoadWord, offNr),
		jump(bpfJGE, x32SyscallBit, 0, 1),
		stmt(bpfRet, retKill),
	}
	seen := map[uint32]string{}
	for _, r := range rules {
		if prev, dup := seen[r.nr]; dup {
			return nil, fmt.Errorf("seccomp filter: %s and %s share system call %d", prev, r.name, r.nr)
		}
		seen[r.nr] = r.name
		body := r.body
		if body == nil {
			body = []unix.SockFilter{stmt(bpfRet, retAllow)}
		}
		if len(body) > maxBodyLen {
			return nil, fmt.Errorf("seccomp filter: rule for %s is %d instructions long", r.name, len(body))
		}
		prog = append(prog, jump(bpfJEq, r.nr, 0, uint8(len(body))))
		prog = append(prog, body...)
	}
	prog = append(prog, stmt(bpfRet, deny))
	if len(prog) > maxFilterLen {
		return nil, fmt.Errorf("seccomp filter: %d instructions, the kernel takes at most %d", len(prog), maxFilterLen)
	}
	return prog, nil
}

func violationReturn(a Action) uint32 {
	switch a {
	case Trap:
		return unix.SECCOMP_RET_TRAP
	case Log:
		return unix.SECCOMP_RET_LOG
	}
	return retKill
}

func seccompActionAvailable(action uint32) bool {
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&action)))
	return errno == 0
}

// probeSeccomp also says whether the process is already jailed: this package's filter answers PR_GET_SECCOMP
// with EPERM, and nothing else may be probed then, since the filter kills for the Landlock calls.
func probeSeccomp() (st SeccompStatus, jailed bool) {
	mode, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	switch {
	case errors.Is(err, unix.EPERM):
		return SeccompStatus{Available: true, Filtered: true, Reason: ErrAlreadyJailed.Error()}, true
	case err != nil:
		return SeccompStatus{Reason: "the kernel has no seccomp (CONFIG_SECCOMP)"}, false
	}
	st.Filtered = mode == unix.SECCOMP_MODE_FILTER
	if !seccompActionAvailable(retKill) {
		st.Reason = "the kernel's seccomp cannot kill a whole process (it needs Linux 4.14)"
		return st, false
	}
	st.Available = true
	return st, false
}

// installSeccomp builds the filter for p and installs it on every thread of the process.
func installSeccomp(p Policy) (allowed int, err error) {
	deny := violationReturn(p.Violation)
	if !seccompActionAvailable(deny) {
		return 0, fmt.Errorf("seccomp: this kernel cannot %s", p.Violation)
	}
	rules := syscallRules(p, os.Getpid(), deny)
	prog, err := buildFilter(rules, deny)
	if err != nil {
		return 0, err
	}
	for _, r := range rules {
		if !r.refused {
			allowed++
		}
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	tid, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		return 0, fmt.Errorf("seccomp: install filter: %w", errno)
	}
	if tid != 0 {
		return 0, fmt.Errorf("seccomp: thread %d has a filter of its own and cannot be synchronized", tid)
	}
	return allowed, nil
}
