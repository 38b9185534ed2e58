package vmwindow

import (
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2"

	"paddock/display"
)

func TestTypeClipboardTypesUSKeystrokes(t *testing.T) {
	var results []TypeResult
	w, con := newTestWindow(t, Options{OnTyped: func(r TypeResult) { results = append(results, r) }})
	defer w.Close()
	if w.typeBtn == nil {
		t.Fatal("no Type clipboard button although the window audits it")
	}
	fyne.CurrentApp().Clipboard().SetContent("Hi!\r\n")
	w.TypeClipboard()
	w.Screen().input.flush()
	shift, h, i, one, enter := display.KeyLeftShift, display.Key(35), display.Key(23), display.Key(2), display.KeyEnter
	want := []display.KeyEvent{
		ev(shift, true), ev(h, true), ev(h, false), ev(shift, false),
		ev(i, true), ev(i, false),
		ev(shift, true), ev(one, true), ev(one, false), ev(shift, false),
		ev(enter, true), ev(enter, false),
	}
	if got := con.Keys(); !slices.Equal(got, want) {
		t.Fatalf("guest got %v, want %v", got, want)
	}
	if len(results) != 1 || !results[0].Typed || results[0].Text != "Hi!\r\n" {
		t.Fatalf("reported %+v", results)
	}
	if !strings.Contains(w.Status(), "Typed 4 characters") {
		t.Errorf("status %q", w.Status())
	}
}

func TestTypeClipboardRefusesWhatItCannotType(t *testing.T) {
	var results []TypeResult
	w, con := newTestWindow(t, Options{OnTyped: func(r TypeResult) { results = append(results, r) }})
	defer w.Close()
	for _, text := range []string{"café", "", strings.Repeat("a", MaxTypedChars+1), "\xff\xfe"} {
		results = nil
		fyne.CurrentApp().Clipboard().SetContent(text)
		w.TypeClipboard()
		if len(results) != 1 || results[0].Typed || results[0].Why == "" {
			t.Errorf("%.10q: reported %+v", text, results)
		}
		if !strings.HasPrefix(w.Status(), "Nothing typed: ") {
			t.Errorf("%.10q: status %q", text, w.Status())
		}
	}
	w.Screen().input.flush()
	if keys := con.Keys(); len(keys) != 0 {
		t.Errorf("refused text still typed %d key events", len(keys))
	}
	if n, err := w.TypeText(strings.Repeat("A", MaxTypedChars)); err != nil || n != MaxTypedChars {
		t.Errorf("the longest text allowed: %d, %v", n, err)
	}
	w.Screen().input.flush()
	if got := len(con.Keys()); got != 4*MaxTypedChars {
		t.Errorf("typing %d capitals sent %d key events, want %d (none dropped)", MaxTypedChars, got, 4*MaxTypedChars)
	}
}

func TestSharingBadge(t *testing.T) {
	w, _ := newTestWindow(t, Options{OnAuditLog: func() {}})
	defer w.Close()
	if w.SharingBadge() != "" || w.badge.Visible() {
		t.Fatal("a badge shows while nothing is shared")
	}
	w.SetSharingBadge("Sharing: clipboard ↔, 2 folders")
	if w.SharingBadge() != "Sharing: clipboard ↔, 2 folders" || !w.badge.Visible() {
		t.Errorf("badge %q visible %v", w.SharingBadge(), w.badge.Visible())
	}
	w.SetSharingBadge("")
	if w.badge.Visible() {
		t.Error("the badge stayed after sharing was turned off")
	}
	if w.typeBtn != nil {
		t.Error("Type clipboard offered with nobody to audit it")
	}
}
