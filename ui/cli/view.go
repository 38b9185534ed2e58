package cli

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"
	"github.com/jezek/xgb"

	"paddock/engine/control"
	"paddock/ui/gui/vmwindow"
)

// appID names Paddock to the desktop (preferences, notifications), the same for every window it opens.
const appID = "org.paddock.Paddock"

func viewCommand(env Env, args []string) error {
	fs := newFlagSet(env, "view", "[--power-off-on-close] NAME")
	powerOff := fs.Bool("power-off-on-close", false, "power the VM off when the window is closed")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{"expects exactly one VM name"}
	}
	path, err := socketFor(rest[0])
	if err != nil {
		return err
	}
	return view(path, rest[0], *powerOff)
}

// view opens a window titled name on the running VM at the control socket path, and returns when the window
// closes or the VM ends.
func view(path, name string, powerOffOnClose bool) error {
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

	quietDesktopLibraries()
	a := app.NewWithID(appID)
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

// startViewer runs `paddock view` for the VM in a process of its own, so the VM's process can be sandboxed while
// the window talks to the desktop.
func startViewer(env Env, name string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the paddock program to open the window: %w", err)
	}
	cmd := exec.Command(self, "view", "--power-off-on-close", name)
	cmd.Stdout, cmd.Stderr = env.Stderr, env.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("open the VM window: %w", err)
	}
	return cmd, nil
}

// quietDesktopLibraries keeps the X client library from narrating its connection (a missing ~/.Xauthority is
// normal), which a user cannot act on. (Fyne's locale noise is handled by package localefix.)
func quietDesktopLibraries() {
	xgb.Logger = log.New(io.Discard, "", 0)
}

var errNoDisplay = errors.New("--display window needs a graphical session (DISPLAY or WAYLAND_DISPLAY is not set)")
