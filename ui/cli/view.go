package cli

import (
	"context"

	"fyne.io/fyne/v2/app"

	"paddock/library"
	"paddock/ui/clikit"
	"paddock/ui/gui/manager"
	"paddock/ui/gui/viewer"
	"paddock/ui/vmctl"
)

func viewCommand(env Env, args []string) error {
	fs := newFlagSet(env, "view", "[--power-off-on-close] NAME")
	powerOff := fs.Bool("power-off-on-close", false, "power the VM off when the window is closed")
	socket := fs.String("socket", "", "the VM's control socket `path` (instead of looking the name up)")
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	if *socket != "" {
		return viewer.Run(*socket, name, *powerOff)
	}
	if !*powerOff {
		if ctl, done, err := openController(); err == nil {
			defer done()
			if vm, err := ctl.Library().GetVM(context.Background(), name); err == nil {
				return showLibraryVM(ctl, vm)
			}
		}
	}
	path, title, err := resolveVM(name)
	if err != nil {
		return err
	}
	return viewer.Run(path, title, *powerOff)
}

// showLibraryVM opens a library VM's window with its sharing (clipboard, badge, audit log) and Eject ISO, as the
// library window opens it.
func showLibraryVM(ctl *vmctl.Controller, vm library.VM) error {
	if err := clikit.CheckDisplay(); err != nil {
		return err
	}
	return manager.ShowVM(app.NewWithID(viewer.AppID), ctl, vm.ID)
}
