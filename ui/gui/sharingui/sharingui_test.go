package sharingui

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"paddock/library"
	"paddock/sharing/clipboard"
	"paddock/sharing/policy"
	_ "paddock/ui/localefix" // before Fyne reads the locale
)

func TestSummary(t *testing.T) {
	share := library.Share{Tag: "docs"}
	for _, c := range []struct {
		p      library.SharePolicy
		shares []library.Share
		want   string
	}{
		{library.SharePolicy{Clipboard: library.ClipboardOff}, nil, ""},
		{library.SharePolicy{Clipboard: library.ClipboardBoth}, nil, "Sharing: clipboard ↔"},
		{library.SharePolicy{Clipboard: library.ClipboardHostToGuest}, []library.Share{share}, "Sharing: clipboard →, 1 folder"},
		{library.SharePolicy{Clipboard: library.ClipboardGuestToHost}, nil, "Sharing: clipboard ←"},
		{library.SharePolicy{Clipboard: library.ClipboardOff}, []library.Share{share, share}, "Sharing: 2 folders"},
	} {
		if got := Summary(c.p, c.shares); got != c.want {
			t.Errorf("Summary(%v, %d shares) = %q, want %q", c.p.Clipboard, len(c.shares), got, c.want)
		}
	}
}

func TestSizes(t *testing.T) {
	for in, want := range map[string]int64{"1 MiB": 1 << 20, "64 KiB": 64 << 10, "512": 512, "1.5m": 3 << 19, " 2 kb ": 2048} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "1 TB", "-1", "1..2 MiB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) took it", bad)
		}
	}
	for n, want := range map[int64]string{1 << 20: "1 MiB", 100: "100 B", 1536: "1.5 KiB", 64 << 20: "64 MiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestTypedAuditKeepsADigestNotTheText(t *testing.T) {
	e := TypedAudit("id", "vm", "secret", true, "")
	if e.Channel != ChannelKeystrokes || e.Bytes != 6 || e.Decision != library.DecisionAllowed ||
		e.SHA256 != "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b" {
		t.Errorf("entry %+v", e)
	}
	d := TypedAudit("id", "vm", "é", false, "cannot type 'é' on a US keyboard")
	if d.Decision != library.DecisionDenied || !strings.Contains(d.Rule, "US keyboard") {
		t.Errorf("refusal %+v", d)
	}
}

// uiQueue stands in for the UI goroutine: the test runs what was queued.
type uiQueue chan func()

func (q uiQueue) do(f func()) { q <- f }

func (q uiQueue) pump(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		select {
		case f := <-q:
			f()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

type fakeSource struct {
	entries []library.AuditEntry // newest first
	err     error
}

func (f *fakeSource) ListAudit(_ context.Context, q library.AuditQuery) ([]library.AuditEntry, error) {
	var out []library.AuditEntry
	for _, e := range f.entries {
		if (q.BeforeID == 0 || e.ID < q.BeforeID) && len(out) < q.Limit {
			out = append(out, e)
		}
	}
	return out, f.err
}

func TestAuditViewRowsAndDetail(t *testing.T) {
	test.NewTempApp(t)
	hash := strings.Repeat("ab", 32)
	src := &fakeSource{}
	for i := int64(1); i <= auditPage+5; i++ { // more than one page, newest first
		id := auditPage + 6 - i
		src.entries = append(src.entries, library.AuditEntry{ID: id, Time: time.UnixMilli(id * 1000), VMName: "web",
			Channel: "clipboard", Direction: "guest-to-host", Bytes: id, SHA256: hash, Rule: "user denied", Decision: "denied"})
	}
	q := make(uiQueue, 64)
	v := NewAuditView(src, "", q.do)
	w := test.NewWindow(v)
	defer w.Close()
	q.pump(t, "the first page", func() bool { return !v.Loading() })
	if n := len(v.Entries()); n != auditPage {
		t.Fatalf("%d rows, want a page of %d", n, auditPage)
	}
	if v.CellText(0, 4) != "205 B" || v.CellText(1, 4) != "204 B" || v.CellText(0, 3) != "guest → host" {
		t.Errorf("first rows: %q %q %q", v.CellText(0, 4), v.CellText(1, 4), v.CellText(0, 3))
	}
	if got := v.CellText(0, 5); got != hash[:12]+"…" {
		t.Errorf("hash column %q", got)
	}
	v.Select(0)
	if !strings.Contains(v.Detail(), hash) {
		t.Errorf("the chosen row does not show its whole hash: %q", v.Detail())
	}
	test.Tap(v.copyBtn)
	if got := fyne.CurrentApp().Clipboard().Content(); got != hash {
		t.Errorf("copied %q", got)
	}
	test.Tap(v.older)
	q.pump(t, "the older page", func() bool { return !v.Loading() })
	ids := []int64{}
	for _, e := range v.Entries() {
		ids = append(ids, e.ID)
	}
	if len(ids) != auditPage+5 || !slices.IsSortedFunc(ids, func(a, b int64) int { return int(b - a) }) {
		t.Errorf("after Load older: %d rows, newest first %v", len(ids), slices.IsSortedFunc(ids, func(a, b int64) int { return int(b - a) }))
	}

	src.err = errors.New("disk on fire")
	v.Reload()
	q.pump(t, "the failed read", func() bool { return !v.Loading() })
	if !strings.Contains(v.Status(), "disk on fire") {
		t.Errorf("status %q after a failed read", v.Status())
	}
}

func TestAskerAllowDenyCloseAndTimeout(t *testing.T) {
	app := test.NewTempApp(t)
	win := app.NewWindow("vm")
	win.Resize(fyne.NewSize(600, 400))
	defer win.Close()
	q := make(uiQueue, 64)
	a := NewAsker(func(clipboard.AskRequest) fyne.Window { return win }, q.do, 10*time.Second)
	req := clipboard.AskRequest{VMID: "id", VMName: "web", Direction: policy.GuestToHost, Bytes: 2048}

	ask := func(answer func(*AskDialog)) (bool, error) {
		type result struct {
			ok  bool
			err error
		}
		res := make(chan result, 1)
		go func() {
			ok, err := a.AskClipboard(context.Background(), req)
			res <- result{ok, err}
		}()
		if answer != nil {
			q.pump(t, "the question", func() bool { return len(a.Open()) == 1 })
			d := a.Open()[0]
			if !strings.Contains(d.Message, `"web"`) || !strings.Contains(d.Message, "2 KiB") ||
				!strings.Contains(d.Message, "guest → host") {
				t.Errorf("the question does not name the VM, size and direction: %q", d.Message)
			}
			answer(d)
		}
		var r result
		q.pump(t, "the answer", func() bool {
			select {
			case r = <-res:
				return true
			default:
				return false
			}
		})
		q.pump(t, "the dialog gone", func() bool { return len(a.Open()) == 0 })
		return r.ok, r.err
	}
	if ok, err := ask((*AskDialog).Allow); !ok || err != nil {
		t.Errorf("Allow answered %v, %v", ok, err)
	}
	if ok, err := ask((*AskDialog).Deny); ok || err != nil {
		t.Errorf("Deny answered %v, %v", ok, err)
	}
	if ok, _ := ask((*AskDialog).Close); ok {
		t.Error("closing the dialog allowed")
	}
	a = NewAsker(func(clipboard.AskRequest) fyne.Window { return win }, q.do, 200*time.Millisecond)
	if ok, _ := ask(nil); ok {
		t.Error("no answer allowed")
	}

	none := NewAsker(func(clipboard.AskRequest) fyne.Window { return nil }, q.do, time.Second)
	done := make(chan error, 1)
	go func() {
		ok, err := none.AskClipboard(context.Background(), req)
		if ok {
			err = errors.New("allowed")
		}
		done <- err
	}()
	var err error
	q.pump(t, "the refusal", func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	})
	if err == nil {
		t.Error("asking with no window did not fail")
	}
}

func TestHostClipboardReadWriteWatch(t *testing.T) {
	app := test.NewTempApp(t)
	cb := app.Clipboard()
	cb.SetContent("before")
	q := make(uiQueue, 64)
	h := NewHostClipboard(cb, q.do)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Watch(ctx, 10*time.Millisecond)

	var got string
	readDone := make(chan struct{})
	go func() {
		got, _ = h.Read()
		close(readDone)
	}()
	q.pump(t, "the read", func() bool {
		select {
		case <-readDone:
			return true
		default:
			return false
		}
	})
	if got != "before" {
		t.Errorf("Read = %q", got)
	}
	changed := func() bool {
		select {
		case <-h.Changes():
			return true
		default:
			return false
		}
	}
	// What the guest wrote is not a host change.
	writeDone := make(chan struct{})
	go func() {
		_ = h.Write("from the guest")
		close(writeDone)
	}()
	q.pump(t, "the write", func() bool {
		select {
		case <-writeDone:
			return true
		default:
			return false
		}
	})
	if cb.Content() != "from the guest" {
		t.Errorf("host clipboard %q after Write", cb.Content())
	}
	deadline := time.Now().Add(100 * time.Millisecond)
	q.pump(t, "a few looks", func() bool { return time.Now().After(deadline) })
	if changed() {
		t.Error("the guest's own text was reported as a host change")
	}
	cb.SetContent("copied on the host")
	q.pump(t, "the change reported", changed)
}
