// Command paddock is a desktop hosted hypervisor: with a command it acts on the command line; the engine's own
// processes are started through it too.
package main

import (
	"os"

	"paddock/ui/cli"
	_ "paddock/ui/localefix" // before the GUI toolkit reads the locale
)

func main() {
	os.Exit(cli.Main(cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, os.Args[1:]))
}
