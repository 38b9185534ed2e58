package clikit

import (
	"io"
	"log/slog"
	"os"

	"golang.org/x/sys/unix"
)

// PassKeysThrough turns off line buffering and echo on a terminal (the guest echoes) but keeps signals, so Ctrl-C
// still stops the VM. The returned function restores the terminal; on anything else it does nothing.
func PassKeysThrough(in io.Reader, log *slog.Logger) (restore func()) {
	restore = func() {}
	f, ok := in.(*os.File)
	if !ok {
		return restore
	}
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return restore // not a terminal
	}
	raw := *old
	raw.Lflag &^= unix.ICANON | unix.ECHO | unix.IEXTEN
	raw.Iflag &^= unix.ICRNL | unix.IXON
	raw.Cc[unix.VMIN] = 1
	raw.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		log.Warn("cannot set the terminal to pass keys through", "err", err)
		return restore
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }
}

// ForwardInput copies what is typed to deliver until the input ends.
func ForwardInput(in io.Reader, deliver func([]byte)) {
	buf := make([]byte, 4096)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			deliver(append([]byte(nil), buf[:n]...))
		}
		if err != nil {
			return
		}
	}
}
