// Package gui starts Paddock's desktop interface: the manager window on the user's library.
package gui

import (
	"fmt"
	"io"

	"fyne.io/fyne/v2/app"

	"paddock/assets"
	"paddock/library"
	"paddock/ui/clikit"
	"paddock/ui/gui/manager"
	"paddock/ui/gui/viewer"
	"paddock/ui/vmctl"
)

// Available says whether there is a graphical session to open a window in.
func Available() bool {
	return clikit.GraphicalSession()
}

// Main opens the manager window on the library and returns the process exit status once it closes. VMs started
// from it keep running after it closes.
func Main(stderr io.Writer) int {
	if err := run(); err != nil {
		fmt.Fprintln(stderr, "paddock:", err)
		return 1
	}
	return 0
}

func run() error {
	lib, err := library.Open("")
	if err != nil {
		return err
	}
	defer lib.Close()
	program, err := vmctl.DefaultProgram()
	if err != nil {
		return err
	}
	if err := clikit.CheckDisplay(); err != nil {
		return err
	}
	a := app.NewWithID(viewer.AppID)
	a.SetIcon(assets.Icon())
	m := manager.New(a, vmctl.New(lib, program), manager.Options{})
	m.Show()
	a.Run()
	m.Close()
	return nil
}
