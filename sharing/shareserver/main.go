package shareserver

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"paddock/engine/jail"
)

// Main runs `paddock share-server --root DIR [--ro] --fd N`: it serves DIR over the connected socket inherited as
// descriptor N, after jailing itself so that the process can reach nothing but DIR. It returns the exit status.
func Main(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("share-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "", "the host `directory` to share")
	readOnly := fs.Bool("ro", false, "refuse every change to the share")
	connFD := fs.Int("fd", -1, "the inherited socket `descriptor` to serve 9P on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if *root == "" || *connFD < 3 || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: paddock share-server --root DIR [--ro] --fd N")
		return 2
	}
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
	var st unix.Stat_t
	if err := unix.Fstat(*connFD, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		log.Error("share-server: --fd is not a socket", "fd", *connFD, "err", err)
		return 1
	}
	conn := os.NewFile(uintptr(*connFD), "share-socket")
	defer conn.Close()

	policy := jail.Policy{}
	if *readOnly {
		policy.ReadOnlyPaths = []string{dir}
	} else {
		policy.ReadWritePaths = []string{dir}
	}
	rep, err := jail.Apply(policy)
	if err != nil {
		log.Error("share-server: jail", "err", err, "report", rep.String())
		return 1
	}
	log.Info("share-server: serving", "root", dir, "read_only", *readOnly, "jail", rep.String())
	if err := ServeFD(context.Background(), conn, rootFD, *readOnly, log); err != nil {
		log.Error("share-server: stopped", "err", err)
		return 1
	}
	return 0
}
