// Package viewer opens a display window on a running VM in this process, talking to the VM over its control
// socket; it is what `paddock view` and `paddock start` show.
package viewer

import (
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"

	"paddock/assets"
	"paddock/engine/control"
	"paddock/ui/clikit"
	"paddock/ui/gui/vmwindow"
)

// AppID names Paddock to the desktop (preferences, notifications), the same for every window it opens.
const AppID = "org.paddock.Paddock"

// Run opens a window titled name on the VM whose control socket is at path, and returns when the window closes or
// the VM ends. With powerOffOnClose, closing the window powers the VM off.
func Run(path, name string, powerOffOnClose bool) error {
	console, err := control.OpenConsole(path)
	if err != nil {
		return fmt.Errorf("VM %q: %w", name, err)
	}
	defer console.Close()
	watch, err := control.Dial(path)
	if err != nil {
		return fmt.Errorf("VM %q: %w", name, err)
	}
	defer watch.Close()

	if err := clikit.CheckDisplay(); err != nil {
		return err
	}
	a := app.NewWithID(AppID)
	a.SetIcon(assets.Icon())
	w := vmwindow.New(a, name, console, vmwindow.Options{OnClose: func() {
		if powerOffOnClose {
			_ = watch.Call(control.OpPowerOff, nil, nil)
		}
		a.Quit()
	}})
	w.Show()
	// When the VM ends, its socket goes quiet: close the window with it.
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				var st control.Status
				if err := watch.Call(control.OpStatus, nil, &st); err != nil || st.State == control.StateStopped || st.State == control.StateCrashed {
					fyne.Do(a.Quit)
					return
				}
			}
		}
	}()
	a.Run()
	return nil
}
