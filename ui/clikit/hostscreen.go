package clikit

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/jezek/xgb"
	"github.com/kbinani/screenshot"

	"paddock/display"
)

// DefaultScreenSize fits the guest screen to the host's primary display, when there is one to ask.
func DefaultScreenSize() (w, h int, ok bool) {
	if os.Getenv("DISPLAY") == "" {
		return 0, 0, false // headless: the engine's default applies
	}
	QuietDesktopLibraries()
	if screenshot.NumActiveDisplays() < 1 {
		return 0, 0, false
	}
	b := screenshot.GetDisplayBounds(0)
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return 0, 0, false
	}
	w, h = display.FitHost(b.Dx(), b.Dy())
	return w, h, true
}

// CheckDisplay says, as one clear error, why no window can open: no graphical session, or an X display that does
// not answer (the GUI toolkit would otherwise panic on it).
func CheckDisplay() error {
	if !GraphicalSession() {
		return errors.New("no graphical session: DISPLAY or WAYLAND_DISPLAY is not set")
	}
	d := os.Getenv("DISPLAY")
	if d == "" {
		return nil // Wayland
	}
	QuietDesktopLibraries()
	c, err := xgb.NewConnDisplay(d)
	if err != nil {
		return fmt.Errorf("cannot open the X display %s: %w", d, err)
	}
	c.Close()
	return nil
}

// QuietDesktopLibraries keeps the X client library from narrating its connection (a missing ~/.Xauthority is
// normal), which a user cannot act on.
func QuietDesktopLibraries() {
	xgb.Logger = log.New(io.Discard, "", 0)
}
