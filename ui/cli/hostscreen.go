package cli

import (
	"os"

	"github.com/kbinani/screenshot"

	"paddock/display"
)

// defaultScreenSize fits the guest screen to the host's primary display, when there is one to ask.
func defaultScreenSize() (w, h int, ok bool) {
	if os.Getenv("DISPLAY") == "" {
		return 0, 0, false // headless: the engine's default applies
	}
	quietDesktopLibraries()
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
