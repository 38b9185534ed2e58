package shareserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Share is one host folder to serve.
type Share struct {
	HostDir  string // the folder; the server sees nothing outside it
	Tag      string // the guest's mount tag, for the server's log
	ReadOnly bool   // every change refused by the server, and by its jail
}

// Spawn starts `PROGRAM share-server` for s in a session of its own (so that it outlives a GUI that started it,
// as the VMM does) and returns the VMM's end of its connection: a unix stream socket, close-on-exec, that the
// caller hands to the VM (machine.Share.Conn, or vmm.Start). The server runs until that socket's last descriptor
// closes or the share is revoked; its log goes to logFile (nil: nowhere). program must be a build that can jail
// every thread (paddock-vmm, built without cgo, or any build on a kernel with Landlock ABI 8): the server refuses
// to serve unconfined. The caller may Wait on proc or leave it to init.
func Spawn(program string, s Share, logFile *os.File) (vmmEnd *os.File, proc *os.Process, err error) {
	dir, err := filepath.Abs(s.HostDir)
	if err != nil {
		return nil, nil, fmt.Errorf("share %s: %w", s.HostDir, err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, nil, fmt.Errorf("share %s: %w", s.HostDir, err)
	} else if !fi.IsDir() {
		return nil, nil, fmt.Errorf("share %s: not a directory", s.HostDir)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("share %s: socket pair: %w", s.Tag, err)
	}
	vmmEnd = os.NewFile(uintptr(fds[0]), "share:"+s.Tag)
	serverEnd := os.NewFile(uintptr(fds[1]), "share-server:"+s.Tag)
	defer serverEnd.Close()
	args := []string{"share-server", "--root", dir, "--fd", "3"}
	if s.Tag != "" {
		args = append(args, "--tag", s.Tag)
	}
	if s.ReadOnly {
		args = append(args, "--ro")
	}
	cmd := exec.Command(program, args...)
	cmd.ExtraFiles = []*os.File{serverEnd}
	if logFile != nil {
		cmd.Stdout, cmd.Stderr = logFile, logFile
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		vmmEnd.Close()
		return nil, nil, fmt.Errorf("share %s: start the share server: %w", s.Tag, err)
	}
	return vmmEnd, cmd.Process, nil
}
