package cli

import (
	"io"
	"log/slog"
	"os"

	"golang.org/x/sys/unix"
)

// startConsoleInput forwards in to the guest's serial line. On a terminal it turns off line buffering and echo
// (the guest echoes) but keeps signals, so Ctrl-C still stops the VM. The returned function restores the
// terminal.
func startConsoleInput(in io.Reader, deliver func([]byte), log *slog.Logger) (restore func()) {
	restore = func() {}
	if f, ok := in.(*os.File); ok {
		fd := int(f.Fd())
		if old, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
			raw := *old
			raw.Lflag &^= unix.ICANON | unix.ECHO | unix.IEXTEN
			raw.Iflag &^= unix.ICRNL | unix.IXON
			raw.Cc[unix.VMIN] = 1
			raw.Cc[unix.VTIME] = 0
			if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
				log.Warn("cannot set the terminal to pass keys through", "err", err)
			} else {
				restore = func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }
			}
		}
	}
	go func() {
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
	}()
	return restore
}
