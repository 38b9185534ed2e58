// Command paddock-agent is Paddock's guest agent for Linux guests. Build it static (CGO_ENABLED=0).
//
//	paddock-agent clip get            print the host clipboard
//	paddock-agent clip set TEXT       offer TEXT for the host clipboard ("-" reads standard input)
//	paddock-agent daemon [-file PATH] answer the host: keep the clipboard it sets in PATH and give it when asked
//
// The port admits one program at a time: while the daemon runs, read and write its file instead.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"paddock/sharing/agent"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, log); err != nil {
		fmt.Fprintln(os.Stderr, "paddock-agent:", err)
		os.Exit(1)
	}
}

const usage = "usage: paddock-agent clip get | clip set TEXT | daemon [-file PATH] [-port PATH]"

func run(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("paddock-agent", flag.ContinueOnError)
	port := fs.String("port", agent.DevicePath, "the agent's virtio port")
	file := fs.String("file", "/run/paddock-agent/clipboard", "daemon: where the clipboard is kept")
	timeout := fs.Duration("timeout", 30*time.Second, "clip: how long to wait for the host (it may ask its user)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	args = fs.Args()
	open := func() (*os.File, error) {
		f, err := os.OpenFile(*port, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("opening the agent port: %w", err)
		}
		return f, nil
	}
	switch {
	case len(args) == 2 && args[0] == "clip" && args[1] == "get":
		f, err := open()
		if err != nil {
			return err
		}
		defer f.Close()
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		text, err := agent.ClipGet(ctx, f, log)
		if err != nil {
			return err
		}
		_, err = io.WriteString(stdout, text)
		return err
	case len(args) == 3 && args[0] == "clip" && args[1] == "set":
		text := args[2]
		if text == "-" {
			b, err := io.ReadAll(io.LimitReader(stdin, agent.CeilingBody+1))
			if err != nil {
				return fmt.Errorf("reading standard input: %w", err)
			}
			text = string(b)
		}
		f, err := open()
		if err != nil {
			return err
		}
		defer f.Close()
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		return agent.ClipSet(ctx, f, text, log)
	case len(args) == 1 && args[0] == "daemon":
		if err := os.MkdirAll(filepath.Dir(*file), 0o700); err != nil {
			return fmt.Errorf("creating the clipboard directory: %w", err)
		}
		f, err := open()
		if err != nil {
			return err
		}
		defer f.Close()
		go func() { <-ctx.Done(); f.Close() }() // unblocks the pending read
		// The host end comes and goes (the host program that holds the channel may restart): each time it hangs
		// up, reads end, and the daemon waits for the next one.
		for {
			if err := waitHost(ctx, f); err != nil {
				return nil
			}
			err = agent.Daemon(ctx, f, agent.FileStore{Path: *file}, log)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				log.Warn("agent connection ended", "err", err)
			}
		}
	}
	return errors.New(usage)
}

// waitHost waits until a host program holds the port's other end: the port then polls writable without a hang-up.
func waitHost(ctx context.Context, f *os.File) error {
	rc, err := f.SyscallConn() // not f.Fd(), which would make the descriptor blocking
	if err != nil {
		return err
	}
	for {
		fds := []unix.PollFd{{Events: unix.POLLOUT}}
		var perr error
		if err := rc.Control(func(fd uintptr) {
			fds[0].Fd = int32(fd)
			_, perr = unix.Poll(fds, 0)
		}); err != nil {
			return fmt.Errorf("waiting for the host: %w", err)
		}
		if perr != nil && perr != unix.EINTR {
			return fmt.Errorf("waiting for the host: %w", perr)
		}
		if fds[0].Revents&unix.POLLOUT != 0 && fds[0].Revents&unix.POLLHUP == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
