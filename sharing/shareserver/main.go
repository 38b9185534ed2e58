package shareserver

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"paddock/engine/jail"
)

// Main runs `paddock share-server --root DIR [--ro] [--tag TAG] --fd N`: it serves DIR over the connected socket
// inherited as descriptor N, after jailing itself (no_new_privs, Landlock to DIR alone, read-only when the share
// is, and a seccomp allow-list) so that the process can reach nothing but DIR. With --probe PATH instead of --fd
// it jails itself the same way and reports what it can still do: open PATH (outside the share), change the share,
// run a program. It returns the exit status.
func Main(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("share-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "", "the host `directory` to share")
	readOnly := fs.Bool("ro", false, "refuse every change to the share")
	tag := fs.String("tag", "", "the share's mount `tag`, for the log")
	connFD := fs.Int("fd", -1, "the inherited socket `descriptor` to serve 9P on")
	probe := fs.String("probe", "", "jail as for serving, then report whether `PATH` outside the share can be opened, the share changed and a program run")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if *root == "" || (*connFD < 3) == (*probe == "") || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: paddock share-server --root DIR [--ro] [--tag TAG] (--fd N | --probe PATH)")
		return 2
	}
	log = log.With("share", *tag)
	dir, err := filepath.Abs(*root)
	if err != nil {
		log.Error("share-server: resolving root", "err", err)
		return 1
	}
	rootFD, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		log.Error("share-server: opening root", "root", dir, "err", err)
		return 1
	}
	var conn *os.File
	if *probe == "" {
		var st unix.Stat_t
		if err := unix.Fstat(*connFD, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
			log.Error("share-server: --fd is not a socket", "fd", *connFD, "err", err)
			return 1
		}
		conn = os.NewFile(uintptr(*connFD), "share-socket")
		defer conn.Close()
	}

	rep, err := jail.Apply(jailPolicy(dir, *readOnly))
	if err != nil {
		log.Error("share-server: jail", "err", err, "report", rep.String())
		return 1
	}
	if *probe != "" {
		return runProbe(stderr, rootFD, *probe)
	}
	log.Info("share-server: serving", "root", dir, "read_only", *readOnly, "jail", rep.String())
	if err := ServeFD(context.Background(), conn, rootFD, *readOnly, log); err != nil {
		log.Error("share-server: stopped", "err", err)
		return 1
	}
	log.Info("share-server: the share ended")
	return 0
}

// jailPolicy confines a share server to its folder: Landlock lets it reach dir alone (read-only for a read-only
// share), and the seccomp allow-list is the one for a process with those paths.
func jailPolicy(dir string, readOnly bool) jail.Policy {
	p := jail.Policy{RequireLandlock: true}
	if readOnly {
		p.ReadOnlyPaths = []string{dir}
	} else {
		p.ReadWritePaths = []string{dir}
	}
	return p
}

// runProbe reports, one line each, what the jailed process can do: "probe: WHAT: refused (ERR)" or
// "probe: WHAT: allowed". Running a program comes last: the seccomp filter kills the process for it.
func runProbe(w io.Writer, rootFD int, outside string) int {
	report := func(what string, err error) {
		if err != nil {
			fmt.Fprintf(w, "probe: %s: refused (%v)\n", what, err)
		} else {
			fmt.Fprintf(w, "probe: %s: allowed\n", what)
		}
	}
	fd, err := unix.Open(outside, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	report("open outside", err)
	fd, err = unix.Openat(rootFD, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	report("read share", err)
	name := fmt.Sprintf(".paddock-probe-%d", os.Getpid())
	fd, err = unix.Openat(rootFD, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err == nil {
		unix.Close(fd)
		unix.Unlinkat(rootFD, name, 0)
	}
	report("write share", err)
	fmt.Fprintln(w, "probe: exec: trying")
	err = syscall.Exec("/bin/true", []string{"true"}, nil)
	report("exec", err)
	return 0
}
