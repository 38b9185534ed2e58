// Package gui starts Paddock's desktop interface: the manager window on the user's library.
package gui

import (
	"fmt"
	"io"
	"path/filepath"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/storage"

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
// from it keep running after it closes. An ISO named in open (as a file manager's "Open with" passes it) is
// taken as if dropped on the window: the New VM wizard opens with it.
func Main(stderr io.Writer, open ...string) int {
	if err := run(open); err != nil {
		fmt.Fprintln(stderr, "paddock:", err)
		return 1
	}
	return 0
}

func run(open []string) error {
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
	if len(open) > 0 {
		var uris []fyne.URI
		for _, p := range open {
			if abs, err := filepath.Abs(p); err == nil {
				uris = append(uris, storage.NewFileURI(abs))
			}
		}
		m.HandleDrop(uris)
	}
	a.Run()
	m.Close()
	return nil
}
