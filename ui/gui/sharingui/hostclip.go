package sharingui

import (
	"context"
	"errors"
	"sync"
	"time"

	"fyne.io/fyne/v2"

	"paddock/sharing/clipboard"
)

// DefaultWatchInterval is how often HostClipboard.Watch looks at the host clipboard.
const DefaultWatchInterval = 500 * time.Millisecond

// uiTimeout bounds a wait for the UI goroutine: a closed or stuck UI makes a clipboard call fail, not hang.
const uiTimeout = 5 * time.Second

// HostClipboard is the host clipboard as the clipboard bridge sees it, over Fyne's. Fyne's clipboard is only
// touched on the UI goroutine; Read and Write may be called from any other goroutine. Watch reports the host
// clipboard's changes, so the host-to-guest direction keeps in step while a VM's window is open.
type HostClipboard struct {
	cb fyne.Clipboard
	do func(func())

	mu      sync.Mutex
	last    string // the content as last seen or written
	changes chan struct{}
}

var _ clipboard.HostClipboard = (*HostClipboard)(nil)

// NewHostClipboard wraps cb (app.Clipboard()). do runs a function on the UI goroutine (nil means fyne.Do).
func NewHostClipboard(cb fyne.Clipboard, do func(func())) *HostClipboard {
	if do == nil {
		do = fyne.Do
	}
	return &HostClipboard{cb: cb, do: do, changes: make(chan struct{}, 1)}
}

// onUI runs f on the UI goroutine and waits for it, a bounded time.
func (h *HostClipboard) onUI(f func()) error {
	done := make(chan struct{})
	h.do(func() {
		f()
		close(done)
	})
	select {
	case <-done:
		return nil
	case <-time.After(uiTimeout):
		return errors.New("the desktop did not answer")
	}
}

// Read implements clipboard.HostClipboard.
func (h *HostClipboard) Read() (string, error) {
	var text string
	if err := h.onUI(func() { text = h.cb.Content() }); err != nil {
		return "", err
	}
	return text, nil
}

// Write implements clipboard.HostClipboard. What it writes is not reported as a change: it came from the guest.
func (h *HostClipboard) Write(text string) error {
	return h.onUI(func() {
		h.cb.SetContent(text)
		h.seen(text) // on the UI goroutine too, so that no look of Watch's falls between the two
	})
}

// seen records text as the clipboard's content and says whether that is a change.
func (h *HostClipboard) seen(text string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	changed := text != h.last
	h.last = text
	return changed
}

// Changes receives a value whenever Watch has seen the host clipboard change; changes close together merge.
func (h *HostClipboard) Changes() <-chan struct{} { return h.changes }

// Watch looks at the host clipboard every interval (0 means DefaultWatchInterval) until ctx ends, and reports
// each change on Changes. What is on the clipboard when it starts is not a change.
func (h *HostClipboard) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	_ = h.onUI(func() { h.seen(h.cb.Content()) })
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed := false
		if err := h.onUI(func() { changed = h.seen(h.cb.Content()) }); err != nil {
			continue
		}
		if changed {
			select {
			case h.changes <- struct{}{}:
			default:
			}
		}
	}
}
