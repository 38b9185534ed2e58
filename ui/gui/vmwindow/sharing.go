package vmwindow

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"paddock/display"
	"paddock/ui/gui/sharingui"
)

// MaxTypedChars bounds the text "Type clipboard" types: each character is two to four key events, sent one by one
// through the input queue, which must hold them all.
const MaxTypedChars = maxQueuedInput / 4

// TypeResult is one use of "Type clipboard", for the caller to audit.
type TypeResult struct {
	Text  string // what the clipboard held; digest it, never store it
	Typed bool
	Why   string // why nothing was typed, when Typed is false
}

// sharingBar is the row under the toolbar holding the sharing controls and the sharing badge.
func (w *Window) sharingBar() fyne.CanvasObject {
	w.badge = sharingui.NewBadge()
	w.badge.OnTapped = w.opts.OnAuditLog
	if w.opts.OnTyped == nil && w.opts.OnAuditLog == nil {
		return w.badge // shown alone, when a caller sets it
	}
	left := container.NewHBox()
	if w.opts.OnTyped != nil {
		w.typeBtn = widget.NewButtonWithIcon("Type clipboard into guest", theme.ContentPasteIcon(), w.TypeClipboard)
		left.Add(w.typeBtn)
	}
	if w.opts.OnAuditLog != nil {
		left.Add(widget.NewButtonWithIcon("Audit log", theme.ListIcon(), w.opts.OnAuditLog))
	}
	return container.NewHBox(left, layout.NewSpacer(), w.badge)
}

// SetSharingBadge shows what the VM shares ("Sharing: clipboard ↔, 1 folder"); "" hides the badge.
func (w *Window) SetSharingBadge(text string) { w.badge.SetText(text) }

// SharingBadge is what the sharing badge says; "" while it is hidden.
func (w *Window) SharingBadge() string { return w.badge.Text() }

// Status is the message line of the toolbar.
func (w *Window) Status() string { return w.status.Text }

// TypeClipboard types the host clipboard's text into the guest as keystrokes on a US keyboard, and reports the
// use to OnTyped. Text it cannot type whole is refused, with the reason shown: nothing is typed half-way.
func (w *Window) TypeClipboard() {
	text := fyne.CurrentApp().Clipboard().Content()
	n, err := w.TypeText(text)
	if err != nil {
		w.status.SetText("Nothing typed: " + err.Error())
	} else {
		w.status.SetText(fmt.Sprintf("Typed %d characters into the guest.", n))
	}
	if w.opts.OnTyped != nil {
		r := TypeResult{Text: text, Typed: err == nil}
		if err != nil {
			r.Why = err.Error()
		}
		w.opts.OnTyped(r)
	}
}

// TypeText types text into the guest as keystrokes and returns how many characters it typed. Line ends become
// Enter; text over MaxTypedChars, and characters a US keyboard has no key for, are refused whole.
func (w *Window) TypeText(text string) (int, error) {
	events, n, err := typingEvents(text)
	if err != nil {
		return 0, err
	}
	w.screen.releaseKeys() // a key the user holds would change what is typed
	w.screen.SendKeys(events)
	return n, nil
}

// typingEvents turns text into key events, refusing what cannot be typed.
func typingEvents(text string) ([]display.KeyEvent, int, error) {
	switch {
	case text == "":
		return nil, 0, fmt.Errorf("the clipboard holds no text")
	case len(text) > 4*MaxTypedChars: // refused before any pass over a huge clipboard
		return nil, 0, fmt.Errorf("the clipboard holds %s of text; at most %d characters can be typed at once",
			sharingui.FormatSize(int64(len(text))), MaxTypedChars)
	case !utf8.ValidString(text):
		return nil, 0, fmt.Errorf("the clipboard does not hold text")
	}
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	if n := utf8.RuneCountInString(text); n > MaxTypedChars {
		return nil, 0, fmt.Errorf("the clipboard holds %d characters; at most %d can be typed at once", n, MaxTypedChars)
	}
	events, err := display.TextEvents(text)
	if err != nil {
		return nil, 0, err
	}
	return events, utf8.RuneCountInString(text), nil
}
