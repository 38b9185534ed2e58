// Package vmwindow is the window that shows a running VM: the guest's screen, live and scaled to fit, with the
// keyboard and pointer going to the guest, and a toolbar for Ctrl+Alt+Del, screenshots and full screen.
package vmwindow

import (
	"fmt"
	"image"
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"github.com/kbinani/screenshot"

	"paddock/display"
	"paddock/ui/gui/sharingui"
)

// Texts of the keyboard hint.
const (
	HintClickToType = "Click the screen to type"
	HintCaptured    = "Keyboard goes to the guest — press Ctrl+Alt+G to release"
)

// Options tunes a VM window.
type Options struct {
	// OnClose runs on the UI goroutine once the window has closed; the caller decides whether the VM stops.
	OnClose func()
	// ScreenshotDir is where Screenshot saves; empty means ~/Pictures.
	ScreenshotDir string
	// RefreshRate caps screen updates per second; 0 means DefaultRefreshRate (also the most allowed).
	RefreshRate int
	// OnTyped, when set, adds "Type clipboard into guest" and is told of each use (on the UI goroutine), to
	// audit it.
	OnTyped func(TypeResult)
	// OnAuditLog, when set, adds a button (and makes the sharing badge a button) opening the VM's audit log.
	OnAuditLog func()
	// OnEject, when set, adds "Eject ISO", which calls it (on the UI goroutine); it reports with SetStatus.
	OnEject func()
}

// Window is a VM's display window.
type Window struct {
	win    fyne.Window
	screen *Screen
	name   string
	opts   Options

	hint       *widget.Label
	status     *widget.Label
	fullscreen *widget.Button
	badge      *sharingui.Badge
	typeBtn    *widget.Button
}

// New makes the window for the VM called name, showing console c. Call it on the UI goroutine, then Show.
func New(app fyne.App, name string, c display.Console, opts Options) *Window {
	w := &Window{win: app.NewWindow(name), name: name, opts: opts}
	w.screen = NewScreen(c, opts.RefreshRate)
	w.hint = widget.NewLabel(HintClickToType)
	w.hint.Alignment = fyne.TextAlignTrailing
	w.status = widget.NewLabel("")
	w.status.Truncation = fyne.TextTruncateEllipsis
	w.screen.onFocusChange = w.showKeyboardState

	cad := widget.NewButtonWithIcon("Ctrl+Alt+Del", theme.ComputerIcon(), w.SendCtrlAltDel)
	shot := widget.NewButtonWithIcon("Screenshot", theme.MediaPhotoIcon(), w.saveScreenshotAsync)
	w.fullscreen = widget.NewButtonWithIcon("Full screen", theme.ViewFullScreenIcon(), w.ToggleFullScreen)
	// The hint keeps the width of its longer text, so the window does not change size when focus moves.
	reserve := canvas.NewRectangle(color.Transparent)
	reserve.SetMinSize(widget.NewLabel(HintCaptured).MinSize())
	buttons := container.NewHBox(cad, shot, w.fullscreen)
	if opts.OnEject != nil {
		buttons.Add(widget.NewButtonWithIcon("Eject ISO", theme.UploadIcon(), opts.OnEject))
	}
	toolbar := container.NewBorder(nil, nil, buttons, container.NewStack(reserve, w.hint), w.status)
	content := container.NewBorder(container.NewVBox(toolbar, w.sharingBar()), nil, nil, nil, w.screen)
	w.win.SetContent(content)
	w.win.SetPadded(false)
	w.win.Resize(initialSize(w.screen, content.MinSize(), w.win.Canvas().Scale()))
	w.win.SetOnClosed(func() {
		w.screen.Stop()
		if w.opts.OnClose != nil {
			w.opts.OnClose()
		}
	})
	w.screen.Start()
	return w
}

// SetStatus shows a short message in the toolbar. Call it on the UI goroutine.
func (w *Window) SetStatus(text string) { w.status.SetText(text) }

// Show shows the window.
func (w *Window) Show() { w.win.Show() }

// Close closes the window, which calls OnClose.
func (w *Window) Close() { w.win.Close() }

// Fyne is the underlying Fyne window, for a caller that adds to it (badges, menus).
func (w *Window) Fyne() fyne.Window { return w.win }

// Screen is the widget showing the guest.
func (w *Window) Screen() *Screen { return w.screen }

// KeyboardHint is the text telling where the keyboard goes.
func (w *Window) KeyboardHint() string { return w.hint.Text }

// SendCtrlAltDel sends Ctrl+Alt+Delete to the guest, which the host would otherwise take for itself.
func (w *Window) SendCtrlAltDel() {
	w.screen.SendKeys(display.ComboEvents([]display.Key{display.KeyLeftCtrl, display.KeyLeftAlt, display.KeyDelete}))
}

// ToggleFullScreen enters or leaves full screen.
func (w *Window) ToggleFullScreen() {
	full := !w.win.FullScreen()
	w.win.SetFullScreen(full)
	if full {
		w.fullscreen.SetText("Leave full screen")
	} else {
		w.fullscreen.SetText("Full screen")
	}
}

// Screenshot saves the guest screen as a PNG in the screenshot folder and returns its path. It does disk work:
// call it off the UI goroutine.
func (w *Window) Screenshot() (string, error) {
	return saveScreenshot(w.opts.ScreenshotDir, w.name, w.screen.Snapshot())
}

func (w *Window) saveScreenshotAsync() {
	go func() {
		path, err := w.Screenshot()
		fyne.Do(func() {
			if err != nil {
				w.status.SetText(fmt.Sprintf("Screenshot failed: %v", err))
				return
			}
			w.status.SetText("Saved " + path)
		})
	}()
}

func (w *Window) showKeyboardState(captured bool) {
	if captured {
		w.hint.SetText(HintCaptured)
	} else {
		w.hint.SetText(HintClickToType)
	}
}

// initialSize opens the window at the guest's own size, pixel for pixel, unless that is larger than most of the
// host's screen. minimum is the window content's least size, which holds the screen at its own least size.
func initialSize(s *Screen, minimum fyne.Size, canvasScale float32) fyne.Size {
	if canvasScale <= 0 {
		canvasScale = 1
	}
	gw, gh := s.GuestSize()
	chrome := minimum.Height - s.MinSize().Height // the toolbar and the padding below it
	size := fyne.NewSize(max(float32(gw)/canvasScale, minimum.Width), float32(gh)/canvasScale+chrome)
	if bounds := primaryDisplay(); !bounds.Empty() {
		maxW, maxH := float32(bounds.Dx())*0.9/canvasScale, float32(bounds.Dy())*0.9/canvasScale
		if size.Width > maxW || size.Height > maxH {
			k := min(maxW/size.Width, maxH/size.Height)
			size = fyne.NewSize(size.Width*k, size.Height*k)
		}
	}
	return size
}

// primaryDisplay is the host's main screen, or empty where none can be asked about.
func primaryDisplay() image.Rectangle {
	if screenshot.NumActiveDisplays() < 1 {
		return image.Rectangle{}
	}
	return screenshot.GetDisplayBounds(0)
}
