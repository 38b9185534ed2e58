// Package clikit is the plumbing every Paddock command shares: where output goes, how flags and mistakes are
// handled, logging, and the terminal. It carries no GUI toolkit and no database, so the lean VMM program can use it.
package clikit

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"paddock/engine/machine"
)

// Env is what a command may touch of the outside world, so tests can run commands in-process.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// UsageError is a mistake in how a command was called; it exits with status 2.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// ExitError carries a specific exit status for a command that has already said what happened.
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Report turns a command's error into its exit status, printing it as one line.
func Report(env Env, command string, err error) int {
	var ue UsageError
	var ee ExitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "paddock %s: %s\n", command, ue.Msg)
		return 2
	default:
		fmt.Fprintf(env.Stderr, "paddock %s: error: %s\n", command, strings.Join(strings.Fields(err.Error()), " "))
		return 1
	}
}

// NewFlagSet makes a flag set that reports errors as usage errors rather than exiting.
func NewFlagSet(env Env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: paddock %s %s\n\nOptions:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses flags, turning flag errors into exit status 2 (the flag package has printed them already).
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return ExitError{Code: 2}
	}
	return nil
}

// ParseInterspersed parses flags that may come before, between or after the positional arguments, as in
// "paddock send-keys NAME --text hi", and returns the positional ones.
func ParseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := Parse(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// NewLogger logs warnings and errors to w, or more with PADDOCK_LOG=debug|info.
func NewLogger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	switch strings.ToLower(os.Getenv("PADDOCK_LOG")) {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// ParseResolution reads "WxH".
func ParseResolution(s string) (w, h int, err error) {
	ws, hs, ok := strings.Cut(strings.ToLower(s), "x")
	if ok {
		w, err = strconv.Atoi(ws)
		if err == nil {
			h, err = strconv.Atoi(hs)
		}
	}
	if !ok || err != nil || w <= 0 || h <= 0 {
		return 0, 0, fmt.Errorf("--resolution %q: want WIDTHxHEIGHT, such as 1280x800", s)
	}
	return w, h, nil
}

// DiskFlags collects repeated --disk PATH[,ro] options.
type DiskFlags []machine.Disk

func (d *DiskFlags) String() string { return "" }

func (d *DiskFlags) Set(v string) error {
	path, opts, _ := strings.Cut(v, ",")
	if path == "" {
		return errors.New("empty disk path")
	}
	disk := machine.Disk{Path: path}
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "":
		case "ro":
			disk.ReadOnly = true
		case "rw":
			disk.ReadOnly = false
		default:
			return fmt.Errorf("unknown disk option %q (want ro or rw)", o)
		}
	}
	*d = append(*d, disk)
	return nil
}

// GraphicalSession says whether there is a desktop to open windows on (X11 or Wayland).
func GraphicalSession() bool {
	return os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != ""
}

// LeanVMMName is the VMM program built without the GUI toolkit or cgo: smaller, quicker to start, and fully
// sandboxable. It sits beside the paddock program.
const LeanVMMName = "paddock-vmm"

// Beside finds a program called name in the directory of the running executable.
func Beside(name string) (string, bool) {
	self, err := os.Executable()
	if err != nil {
		return "", false
	}
	p := filepath.Join(filepath.Dir(self), name)
	if p == self {
		return "", false
	}
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return "", false
	}
	return p, true
}
