package sharingui

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"paddock/sharing/clipboard"
	"paddock/sharing/policy"
)

// DefaultAskTimeout is how long a question waits for an answer before it denies.
const DefaultAskTimeout = time.Minute

// Asker asks the user, in a modal dialog, whether clipboard text may cross: the dialog names the VM, the direction
// and the size, and offers Allow and Deny. Closing it, or leaving it unanswered until the timeout, denies. It
// implements clipboard.Asker; AskClipboard is called from the bridge's goroutines, never the UI goroutine.
type Asker struct {
	parent  func(clipboard.AskRequest) fyne.Window // the window to ask over; called on the UI goroutine
	do      func(func())
	timeout time.Duration

	// UI goroutine state.
	open []*AskDialog
}

var _ clipboard.Asker = (*Asker)(nil)

// NewAsker makes an asker showing each question over the window parent returns for it (called on the UI
// goroutine; nil when there is none, which denies). do runs a function on the UI goroutine (nil means fyne.Do); timeout 0 means
// DefaultAskTimeout.
func NewAsker(parent func(clipboard.AskRequest) fyne.Window, do func(func()), timeout time.Duration) *Asker {
	if do == nil {
		do = fyne.Do
	}
	if timeout <= 0 {
		timeout = DefaultAskTimeout
	}
	return &Asker{parent: parent, do: do, timeout: timeout}
}

// AskDialog is one open question.
type AskDialog struct {
	Message string
	dlg     dialog.Dialog
	allow   *widget.Button
	deny    *widget.Button
	once    sync.Once
	answer  chan bool
}

// Allow answers the question with Allow, as the button does.
func (d *AskDialog) Allow() { d.allow.OnTapped() }

// Deny answers the question with Deny, as the button does.
func (d *AskDialog) Deny() { d.deny.OnTapped() }

// Close closes the dialog unanswered, which denies.
func (d *AskDialog) Close() { d.dlg.Hide() }

func (d *AskDialog) give(ok bool) { d.once.Do(func() { d.answer <- ok }) }

// Open lists the questions waiting for an answer, oldest first. Call it on the UI goroutine.
func (a *Asker) Open() []*AskDialog { return append([]*AskDialog(nil), a.open...) }

// AskMessage words the question for a request.
func AskMessage(r clipboard.AskRequest) string {
	var what string
	switch r.Direction {
	case policy.HostToGuest:
		what = fmt.Sprintf("Send clipboard text from this computer to the VM %q?", r.VMName)
	case policy.GuestToHost:
		what = fmt.Sprintf("Let the VM %q put text on this computer's clipboard?", r.VMName)
	default:
		what = fmt.Sprintf("Let clipboard text cross (%s) for the VM %q?", r.Direction, r.VMName)
	}
	return fmt.Sprintf("%s\n\nSize: %s (%s).", what, FormatSize(int64(r.Bytes)), DirectionText(string(r.Direction)))
}

// AskClipboard implements clipboard.Asker: it shows the question and waits for the answer, the dialog's closing,
// the timeout (each of which but Allow denies), or ctx's end.
func (a *Asker) AskClipboard(ctx context.Context, r clipboard.AskRequest) (bool, error) {
	d := &AskDialog{Message: AskMessage(r), answer: make(chan bool, 1)}
	shown := make(chan error, 1)
	a.do(func() { shown <- a.show(d, r) })
	timer := time.NewTimer(a.timeout)
	defer timer.Stop()
	select {
	case err := <-shown:
		if err != nil {
			return false, err
		}
	case <-ctx.Done():
		a.do(func() { a.dismiss(d) })
		return false, ctx.Err()
	case <-timer.C:
		a.do(func() { a.dismiss(d) })
		return false, errors.New("the question could not be shown")
	}
	select {
	case ok := <-d.answer:
		return ok, nil
	case <-ctx.Done():
		a.do(func() { a.dismiss(d) })
		return false, ctx.Err()
	case <-timer.C:
		a.do(func() { a.dismiss(d) })
		return false, nil
	}
}

// show opens the dialog; on the UI goroutine.
func (a *Asker) show(d *AskDialog, r clipboard.AskRequest) error {
	var win fyne.Window
	if a.parent != nil {
		win = a.parent(r)
	}
	if win == nil {
		return errors.New("no window to ask in")
	}
	text := widget.NewLabel(d.Message + fmt.Sprintf("\nUnanswered, it is denied in %s.", a.timeout.Round(time.Second)))
	text.Wrapping = fyne.TextWrapWord
	d.allow = widget.NewButton("Allow", nil)
	d.deny = widget.NewButton("Deny", nil)
	d.deny.Importance = widget.HighImportance // the safe answer is the prominent one
	d.dlg = dialog.NewCustomWithoutButtons("Clipboard", container.NewBorder(nil,
		container.NewHBox(layout.NewSpacer(), d.allow, d.deny), nil, nil, text), win)
	d.allow.OnTapped = func() {
		d.give(true)
		d.dlg.Hide()
	}
	d.deny.OnTapped = func() {
		d.give(false)
		d.dlg.Hide()
	}
	d.dlg.SetOnClosed(func() {
		d.give(false)
		a.forget(d)
	})
	d.dlg.Resize(fyne.NewSize(440, 200))
	a.open = append(a.open, d)
	d.dlg.Show()
	return nil
}

// dismiss closes an unanswered question; on the UI goroutine.
func (a *Asker) dismiss(d *AskDialog) {
	d.give(false)
	if d.dlg != nil {
		d.dlg.Hide()
	}
	a.forget(d)
}

func (a *Asker) forget(d *AskDialog) {
	for i, o := range a.open {
		if o == d {
			a.open = append(a.open[:i], a.open[i+1:]...)
			return
		}
	}
}
