//go:build linux && amd64

package jail

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// runFilter interprets the subset of classic BPF the filter uses over one seccomp_data, as the kernel would.
func runFilter(t *testing.T, prog []unix.SockFilter, arch, nr uint32, args ...uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.LittleEndian.PutUint32(data[0:], nr)
	binary.LittleEndian.PutUint32(data[4:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[offArgs+8*i:], a)
	}
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case bpfLoadWord:
			if in.K+4 > uint32(len(data)) || in.K%4 != 0 {
				t.Fatalf("pc %d: load from offset %d", pc, in.K)
			}
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case bpfAnd:
			acc &= in.K
		case bpfJEq, bpfJGE, bpfJSet:
			var taken bool
			switch in.Code {
			case bpfJEq:
				taken = acc == in.K
			case bpfJGE:
				taken = acc >= in.K
			default:
				taken = acc&in.K != 0
			}
			if taken {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case bpfRet:
			return in.K
		default:
			t.Fatalf("pc %d: opcode %#x not interpreted", pc, in.Code)
		}
	}
	t.Fatal("the filter ran off its end")
	return 0
}

func TestFilterDecisions(t *testing.T) {
	const pid = 4242
	deny := uint32(retKill)
	prog, err := buildFilter(syscallRules(Policy{}, pid, deny), deny)
	if err != nil {
		t.Fatal(err)
	}
	const x86 = unix.AUDIT_ARCH_X86_64
	eperm, eacces, enosys := retErrno(unix.EPERM), retErrno(unix.EACCES), retErrno(unix.ENOSYS)
	goThread := uint64(threadFlags | unix.CLONE_SYSVSEM)
	glibcThread := uint64(threadFlags | unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID |
		unix.CLONE_CHILD_CLEARTID)
	for _, c := range []struct {
		what string
		arch uint32
		nr   uint32
		args []uint64
		want uint32
	}{
		{"read", x86, unix.SYS_READ, nil, retAllow},
		{"i386 read", unix.AUDIT_ARCH_I386, unix.SYS_READ, nil, retKill},
		{"x32 read", x86, x32SyscallBit | unix.SYS_READ, nil, retKill},
		{"execve", x86, unix.SYS_EXECVE, nil, deny},
		{"socket", x86, unix.SYS_SOCKET, []uint64{unix.AF_UNIX}, deny},
		{"a number past every table", x86, 1000, nil, deny},
		{"openat", x86, unix.SYS_OPENAT, nil, eacces},
		{"legacy open", x86, unix.SYS_OPEN, nil, eacces},
		{"unlinkat", x86, unix.SYS_UNLINKAT, nil, eacces},
		{"Go thread", x86, unix.SYS_CLONE, []uint64{goThread}, retAllow},
		{"glibc thread", x86, unix.SYS_CLONE, []uint64{glibcThread}, retAllow},
		{"fork-like clone", x86, unix.SYS_CLONE, []uint64{uint64(unix.SIGCHLD)}, deny},
		{"thread in a new user namespace", x86, unix.SYS_CLONE, []uint64{goThread | unix.CLONE_NEWUSER}, deny},
		{"traced thread", x86, unix.SYS_CLONE, []uint64{goThread | unix.CLONE_PTRACE}, deny},
		{"vfork clone", x86, unix.SYS_CLONE, []uint64{unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)}, deny},
		{"clone3", x86, unix.SYS_CLONE3, nil, enosys},
		{"KVM_RUN", x86, unix.SYS_IOCTL, []uint64{5, 0xAE80}, retAllow},
		{"KVM_CREATE_VM", x86, unix.SYS_IOCTL, []uint64{3, 0xAE01}, retAllow},
		{"KVM_SET_USER_MEMORY_REGION", x86, unix.SYS_IOCTL, []uint64{4, 0x4020AE46}, retAllow},
		{"TCGETS", x86, unix.SYS_IOCTL, []uint64{0, unix.TCGETS}, retAllow},
		{"TIOCSTI", x86, unix.SYS_IOCTL, []uint64{0, unix.TIOCSTI}, eperm},
		{"FICLONE", x86, unix.SYS_IOCTL, []uint64{7, unix.FICLONE}, eperm},
		{"mmap rw", x86, unix.SYS_MMAP, []uint64{0, 4096, unix.PROT_READ | unix.PROT_WRITE}, retAllow},
		{"mmap exec", x86, unix.SYS_MMAP, []uint64{0, 4096, unix.PROT_READ | unix.PROT_EXEC}, deny},
		{"mprotect none", x86, unix.SYS_MPROTECT, []uint64{0, 4096, unix.PROT_NONE}, retAllow},
		{"mprotect exec", x86, unix.SYS_MPROTECT, []uint64{0, 4096, unix.PROT_EXEC}, deny},
		{"tgkill own thread", x86, unix.SYS_TGKILL, []uint64{pid, 99, uint64(unix.SIGURG)}, retAllow},
		{"tgkill elsewhere", x86, unix.SYS_TGKILL, []uint64{1, 1, uint64(unix.SIGKILL)}, eperm},
		{"kill self", x86, unix.SYS_KILL, []uint64{pid, uint64(unix.SIGABRT)}, retAllow},
		{"kill process group", x86, unix.SYS_KILL, []uint64{0, uint64(unix.SIGKILL)}, eperm},
		{"kill everyone", x86, unix.SYS_KILL, []uint64{0xffffffff, uint64(unix.SIGKILL)}, eperm},
		{"fcntl F_SETFL", x86, unix.SYS_FCNTL, []uint64{3, unix.F_SETFL}, retAllow},
		{"fcntl F_SETOWN", x86, unix.SYS_FCNTL, []uint64{3, unix.F_SETOWN}, eperm},
		{"prctl PR_SET_VMA", x86, unix.SYS_PRCTL, []uint64{unix.PR_SET_VMA}, retAllow},
		{"prctl PR_SET_DUMPABLE", x86, unix.SYS_PRCTL, []uint64{unix.PR_SET_DUMPABLE}, eperm},
		{"arch_prctl ARCH_SET_FS", x86, unix.SYS_ARCH_PRCTL, []uint64{archSetFS}, retAllow},
		{"arch_prctl ARCH_SET_GS", x86, unix.SYS_ARCH_PRCTL, []uint64{0x1001}, eperm},
	} {
		if got := runFilter(t, prog, c.arch, c.nr, c.args...); got != c.want {
			t.Errorf("%s: filter returns %#x, want %#x", c.what, got, c.want)
		}
	}
}

func TestFilterOpensPathsOnlyForAPolicyWithPaths(t *testing.T) {
	deny := uint32(retKill)
	for _, c := range []struct {
		p               Policy
		openat, unlinkt uint32
	}{
		{Policy{}, retErrno(unix.EACCES), retErrno(unix.EACCES)},
		{Policy{ReadOnlyPaths: []string{"/srv"}}, retAllow, retErrno(unix.EACCES)},
		{Policy{ReadWritePaths: []string{"/srv"}}, retAllow, retAllow},
	} {
		prog, err := buildFilter(syscallRules(c.p, 1, deny), deny)
		if err != nil {
			t.Fatal(err)
		}
		if got := runFilter(t, prog, unix.AUDIT_ARCH_X86_64, unix.SYS_OPENAT); got != c.openat {
			t.Errorf("%+v: openat gets %#x, want %#x", c.p, got, c.openat)
		}
		if got := runFilter(t, prog, unix.AUDIT_ARCH_X86_64, unix.SYS_UNLINKAT); got != c.unlinkt {
			t.Errorf("%+v: unlinkat gets %#x, want %#x", c.p, got, c.unlinkt)
		}
		// A path policy never opens exec or devices by another door.
		if got := runFilter(t, prog, unix.AUDIT_ARCH_X86_64, unix.SYS_MKNODAT); got != deny {
			t.Errorf("%+v: mknodat gets %#x", c.p, got)
		}
	}
}

func TestLandlockRightsFollowTheABI(t *testing.T) {
	for _, c := range []struct {
		abi                 int
		fs, net, scoped     uint64
		hasTruncate, hasDev bool
	}{
		{abi: 1, fs: fsRightsABI1},
		{abi: 3, fs: fsRightsABI1 | fsRightsABI2 | fsRightsABI3},
		{abi: 4, fs: fsRightsABI1 | fsRightsABI2 | fsRightsABI3, net: netRightsABI4},
		{abi: 5, fs: fsRightsABI1 | fsRightsABI2 | fsRightsABI3 | fsRightsABI5, net: netRightsABI4},
		{abi: 7, fs: fsRightsABI1 | fsRightsABI2 | fsRightsABI3 | fsRightsABI5, net: netRightsABI4,
			scoped: unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET},
		{abi: 8, fs: fsRightsABI1 | fsRightsABI2 | fsRightsABI3 | fsRightsABI5, net: netRightsABI4,
			scoped: unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | unix.LANDLOCK_SCOPE_SIGNAL},
	} {
		r := landlockRights(c.abi)
		if r.handledFS != c.fs || r.handledNet != c.net || r.scoped != c.scoped {
			t.Errorf("ABI %d: handles fs %#x net %#x scoped %#x, want %#x %#x %#x", c.abi, r.handledFS,
				r.handledNet, r.scoped, c.fs, c.net, c.scoped)
		}
	}
}
