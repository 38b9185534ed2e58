// Command paddock is a desktop hosted hypervisor: with a command it acts on the command line; the engine's own
// processes are started through it too.
package main

import (
	"os"

	"paddock/engine/vmm"
	"paddock/sharing/shareserver"
	"paddock/ui/cli"
	"paddock/ui/gui"
	_ "paddock/ui/localefix" // before the GUI toolkit reads the locale
)

func main() {
	args := os.Args[1:]
	if len(args) == 0 && gui.Available() {
		// The manager window: the library, and windows on running VMs.
		os.Exit(gui.Main(os.Stderr))
	}
	if len(args) == 1 && !cli.IsCommand(args[0]) && isFile(args[0]) && gui.Available() {
		// "Open with Paddock" on an ISO: the manager window, with the New VM wizard on that ISO.
		os.Exit(gui.Main(os.Stderr, args[0]))
	}
	if len(args) > 0 && args[0] == "vmm" {
		// A VM's own process, started by `paddock start` or the manager window.
		os.Exit(vmm.Main(args[1:], os.Stderr))
	}
	if len(args) > 0 && args[0] == "share-server" {
		// One shared folder's 9P server, jailed to that folder.
		os.Exit(shareserver.Main(args[1:], os.Stderr))
	}
	os.Exit(cli.Main(cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, args))
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
