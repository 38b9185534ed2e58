// Package cli is Paddock's command line: each command parses its flags, calls the engine or the control
// socket, and prints what a person needs to know. No engine logic lives here.
package cli

import (
	"fmt"
	"io"
	"os"
	"sort"
	"syscall"

	"paddock/ui/clikit"
	"paddock/ui/runcmd"
)

// Env is what a command may touch of the outside world.
type Env = clikit.Env

type usageError = clikit.UsageError

type command struct {
	summary string
	run     func(env Env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"run":         {"start an ad-hoc VM in the foreground, serial console on this terminal", runCommand},
		"status":      {"show a running VM's state, uptime, vCPUs and memory", statusCommand},
		"stop":        {"press a running VM's power button (--force: power it off at once)", stopCommand},
		"pause":       {"hold a running VM's CPUs (resume continues it)", pauseCommand},
		"resume":      {"let a paused VM run again", resumeCommand},
		"doctor":      {"check this host can run VMs, and how fast", doctorCommand},
		"screenshot":  {"save a running VM's screen as a PNG file", screenshotCommand},
		"send-keys":   {"type keys or text into a running VM's keyboard", sendKeysCommand},
		"pointer":     {"move (and click) a running VM's pointer", pointerCommand},
		"view":        {"open a window on a running VM's screen", viewCommand},
		"list":        {"list the library's VMs", listCommand},
		"create":      {"create a VM in the library", createCommand},
		"start":       {"start a library VM (and open its window)", startCommand},
		"delete":      {"delete a library VM", deleteCommand},
		"edit":        {"change a library VM's settings", editCommand},
		"console":     {"attach to a library VM's serial console", consoleCommand},
		"share":       {"add, list or remove a library VM's shared folders", shareCommand},
		"clipboard":   {"show or set a library VM's clipboard sharing", clipboardCommand},
		"audit":       {"show what crossed between guests and host, and what was refused", auditCommand},
		"guest-tools": {"write the guest tools ISO (paddock-agent and its installer)", guestToolsCommand},
	}
}

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
	return clikit.Report(env, args[0], cmd.run(env, args[1:]))
}

// IsCommand says whether name is one of paddock's commands (so not, say, a file to open).
func IsCommand(name string) bool {
	_, ok := commands()[name]
	return ok || name == "help" || name == "vmm" || name == "share-server"
}

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
		fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'paddock COMMAND -h' for a command's options.")
}

var (
	newFlagSet        = clikit.NewFlagSet
	parse             = clikit.Parse
	parseInterspersed = clikit.ParseInterspersed
	newLogger         = clikit.NewLogger
)

// runCommand runs `paddock run` in the lean VMM program when it is installed beside this one (it starts faster,
// uses less memory and can be sandboxed completely), else in this process.
func runCommand(env Env, args []string) error {
	if lean, ok := clikit.Beside(clikit.LeanVMMName); ok && env.Stdin == os.Stdin {
		self, err := os.Executable()
		if err == nil {
			argv := append([]string{clikit.LeanVMMName, "run"}, args...)
			environ := append(os.Environ(), runcmd.GUIProgramEnv+"="+self)
			err = syscall.Exec(lean, argv, environ)
		}
		return fmt.Errorf("start %s: %w", lean, err)
	}
	return runcmd.Run(env, args)
}
