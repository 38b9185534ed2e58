package clikit

import (
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

// QuietDesktopLibraries keeps the X client library from narrating its connection (a missing ~/.Xauthority is
// normal), which a user cannot act on.
func QuietDesktopLibraries() {
	xgb.Logger = log.New(io.Discard, "", 0)
}
