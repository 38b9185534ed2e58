// Package cli is Paddock's command line: each command parses its flags, calls the engine or the control
// socket, and prints what a person needs to know. No engine logic lives here.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
)

// Env is what a command may touch of the outside world, so tests can run commands in-process.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

type command struct {
	summary string
	run     func(env Env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"run":        {"start an ad-hoc VM in the foreground, serial console on this terminal", runCommand},
		"status":     {"show a running VM's state, uptime, vCPUs and memory", statusCommand},
		"stop":       {"press a running VM's power button (--force: power it off at once)", stopCommand},
		"doctor":     {"check this host can run VMs, and how fast", doctorCommand},
		"screenshot": {"save a running VM's screen as a PNG file", screenshotCommand},
		"send-keys":  {"type keys or text into a running VM's keyboard", sendKeysCommand},
		"pointer":    {"move (and click) a running VM's pointer", pointerCommand},
		"view":       {"open a window on a running VM's screen", viewCommand},
		"list":       {"list the library's VMs", listCommand},
		"create":     {"create a VM in the library", createCommand},
		"start":      {"start a library VM (and open its window)", startCommand},
		"delete":     {"delete a library VM", deleteCommand},
		"edit":       {"change a library VM's settings", editCommand},
		"console":    {"attach to a library VM's serial console", consoleCommand},
	}
}

// usageError is a mistake in how a command was called; it exits with status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitError carries a specific exit status for a command that has already said what happened.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Main runs one command line (without the program name) and returns the process exit status.
func Main(env Env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stdout)
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "paddock: unknown command %q\n", args[0])
		usage(env.Stderr)
		return 2
	}
	err := cmd.run(env, args[1:])
	var ue usageError
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "paddock %s: %s\n", args[0], ue.msg)
		return 2
	default:
		fmt.Fprintf(env.Stderr, "paddock %s: error: %s\n", args[0], oneLine(err.Error()))
		return 1
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: paddock COMMAND [OPTIONS]")
	fmt.Fprintln(w, "\nCommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'paddock COMMAND -h' for a command's options.")
}

// newFlagSet makes a flag set that reports errors as usage errors rather than exiting.
func newFlagSet(env Env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: paddock %s %s\n\nOptions:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags, turning flag errors into usage errors (the flag package has printed them already).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return exitError{code: 2}
	}
	return nil
}

// parseInterspersed parses flags that may come before, between or after the positional arguments, as in
// "paddock send-keys NAME --text hi", and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// newLogger logs warnings and errors to stderr, or more with PADDOCK_LOG=debug|info.
func newLogger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	switch strings.ToLower(os.Getenv("PADDOCK_LOG")) {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
