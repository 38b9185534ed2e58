// Command paddock-vmm runs VMs and nothing else: `paddock-vmm run ...` (what `paddock run` hands over to),
// `paddock-vmm vmm --spec FD` (a library VM's process) and `paddock-vmm share-server` (one shared folder's server). Built without cgo and without the GUI toolkit, it starts
// in a few milliseconds, keeps its memory small, and its sandbox confines every thread.
package main

import (
	"fmt"
	"os"

	"paddock/engine/jail"
	"paddock/engine/vmm"
	"paddock/sharing/shareserver"
	"paddock/ui/clikit"
	"paddock/ui/runcmd"
)

func main() {
	env := clikit.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	args := os.Args[1:]
	switch {
	case len(args) > 0 && args[0] == "vmm":
		os.Exit(vmm.Main(args[1:], os.Stderr))
	case len(args) > 0 && args[0] == "share-server":
		os.Exit(shareserver.Main(args[1:], os.Stderr))
	case len(args) > 0 && args[0] == "sandbox-report":
		// What the sandbox can do for VMs on this host, as this program (the one that runs them) sees it.
		fmt.Println(jail.Probe().String())
	case len(args) > 0 && args[0] == "run":
		os.Exit(clikit.Report(env, "run", runcmd.Run(env, args[1:])))
	default:
		fmt.Fprintln(os.Stderr, "Usage: paddock-vmm run [OPTIONS] | paddock-vmm vmm --spec FD | paddock-vmm share-server --root DIR [--ro] [--tag TAG] --fd N\n(use 'paddock run -h' for the options)")
		os.Exit(2)
	}
}
