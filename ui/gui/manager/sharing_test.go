package manager

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"paddock/library"
	"paddock/sharing/clipboard"
	"paddock/ui/gui/sharingui"
	"paddock/ui/vmctl"
)

// sharingRecorder stands in for the running VMs' sharing: it records what the manager pushed and which clipboard
// bridges ran.
type sharingRecorder struct {
	mu      sync.Mutex
	applied []library.SharePolicy
	runs    []library.SharePolicy // the policy each bridge started with
	live    int                   // bridges running now
	bridge  *clipboard.Bridge     // the last bridge, over a port with no agent behind it
}

// silentPort is an agent port nobody answers on.
type silentPort struct{}

func (silentPort) Read([]byte) (int, error)    { select {} }
func (silentPort) Write(b []byte) (int, error) { return len(b), nil }

func (r *sharingRecorder) options() SharingOptions {
	return SharingOptions{
		Apply: func(_ context.Context, _ *library.Library, vm library.VM) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.applied = append(r.applied, vm.Sharing)
			return nil
		},
		RunClipboard: func(ctx context.Context, lib *library.Library, vm library.VM, cfg vmctl.ClipboardConfig) error {
			b, err := clipboard.New(silentPort{}, clipboard.Config{VMID: vm.ID, VMName: vm.Name, Policy: vm.Sharing,
				Host: cfg.Host, Asker: cfg.Asker, Auditor: lib})
			if err != nil {
				return err
			}
			r.mu.Lock()
			r.runs = append(r.runs, vm.Sharing)
			r.live++
			r.bridge = b
			r.mu.Unlock()
			cfg.OnBridge(b)
			<-ctx.Done()
			cfg.OnBridge(nil)
			r.mu.Lock()
			r.live--
			r.mu.Unlock()
			return nil
		},
	}
}

func (r *sharingRecorder) state() (applied int, runs []library.SharePolicy, live int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.applied), slices.Clone(r.runs), r.live
}

func newSharingHarness(t *testing.T) (*harness, *sharingRecorder) {
	rec := &sharingRecorder{}
	opts := rec.options()
	opts.WatchInterval = 20 * time.Millisecond
	return newHarness(t, harnessOptions{opts: Options{Sharing: opts}}), rec
}

func (h *harness) openSettings(vm library.VM) *settingsWindow {
	h.t.Helper()
	h.refresh()
	h.m.OpenSettings(vm.ID)
	s := h.m.settings[vm.ID]
	if s == nil {
		h.t.Fatal("the settings window did not open")
	}
	return s
}

func (h *harness) policy(id string) library.SharePolicy {
	h.t.Helper()
	vm, err := h.lib.GetVM(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return vm.Sharing
}

func (h *harness) shares(id string) []library.Share {
	h.t.Helper()
	vm, err := h.lib.GetVM(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return vm.Shares
}

func (h *harness) audit(id string) []library.AuditEntry {
	h.t.Helper()
	es, err := h.lib.ListAudit(context.Background(), library.AuditQuery{VM: id})
	if err != nil {
		h.t.Fatal(err)
	}
	return es
}

func TestSharingPageDefaultsAllOff(t *testing.T) {
	h, rec := newSharingHarness(t)
	vm := h.createVM(library.VMSpec{Name: "fresh"})
	p := h.openSettings(vm).sharing
	if p.mode.Selected != "Off" {
		t.Errorf("clipboard mode %q, want Off", p.mode.Selected)
	}
	if p.size.Text != "1 MiB" {
		t.Errorf("size cap %q, want 1 MiB", p.size.Text)
	}
	if !p.ask.Checked {
		t.Error("Ask before each transfer is not on by default")
	}
	if l, ok := p.shares.Objects[0].(*widget.Label); len(p.shares.Objects) != 1 || !ok || l.Text != "No folders are shared." {
		t.Fatalf("shares list: %d rows, first %#v", len(p.shares.Objects), p.shares.Objects[0])
	}
	if p.access.Selected != accessReadOnly || p.transient.Checked {
		t.Errorf("a new share would be %q, transient %v; want read-only and kept", p.access.Selected, p.transient.Checked)
	}
	if got := h.row("fresh").sharing.Text(); got != "" {
		t.Errorf("row badge %q for a VM sharing nothing", got)
	}
	if n, _, _ := rec.state(); n != 0 {
		t.Errorf("opening the page pushed %d policies", n)
	}
	if es := h.audit(vm.ID); len(es) != 0 {
		t.Errorf("opening the page wrote audit entries: %+v", es)
	}
}

func TestSharingPageSetsEachClipboardMode(t *testing.T) {
	h, rec := newSharingHarness(t)
	vm := h.createVM(library.VMSpec{Name: "clippy"})
	p := h.openSettings(vm).sharing
	for i, c := range []struct {
		label string
		mode  library.ClipboardMode
	}{
		{"Both", library.ClipboardBoth}, {"Host to guest", library.ClipboardHostToGuest},
		{"Guest to host", library.ClipboardGuestToHost}, {"Off", library.ClipboardOff},
	} {
		p.mode.SetSelected(c.label)
		h.pump("the mode "+c.label+" saved", func() bool { return !p.busy && h.policy(vm.ID).Clipboard == c.mode })
		if n, _, _ := rec.state(); n != i+1 {
			t.Errorf("after %s: %d policies pushed to the VM, want %d", c.label, n, i+1)
		}
	}
	es := h.audit(vm.ID)
	if len(es) != 4 {
		t.Fatalf("%d audit entries for 4 changes: %+v", len(es), es)
	}
	if es[0].Decision != sharingui.DecisionRevoked || es[0].Direction != string(library.ClipboardGuestToHost) {
		t.Errorf("turning it off audited as %+v", es[0])
	}
	if es[3].Decision != sharingui.DecisionGranted || es[3].Direction != string(library.ClipboardBoth) {
		t.Errorf("turning it on audited as %+v", es[3])
	}

	// The size cap and the question.
	p.size.SetText("64 KiB")
	test.Tap(p.setSize)
	h.pump("the size saved", func() bool { return !p.busy && h.policy(vm.ID).ClipboardMaxBytes == 64<<10 })
	test.Tap(p.ask)
	h.pump("ask saved", func() bool { return !p.busy && !h.policy(vm.ID).ClipboardAsk })
	p.size.SetText("100 MiB")
	test.Tap(p.setSize)
	if p.sizeErr.Hidden || h.policy(vm.ID).ClipboardMaxBytes != 64<<10 {
		t.Errorf("a size over the limit was taken: error shown %v, policy %+v", !p.sizeErr.Hidden, h.policy(vm.ID))
	}
}

func TestSharingPageAddsAndRemovesFolders(t *testing.T) {
	h, rec := newSharingHarness(t)
	vm := h.createVM(library.VMSpec{Name: "folders"})
	s := h.openSettings(vm)
	p := s.sharing
	dir := filepath.Join(t.TempDir(), "My Docs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	// An invalid tag is refused and nothing is shared.
	p.folder.SetText(dir)
	p.tag.SetText("no spaces/slashes")
	test.Tap(p.add)
	h.pump("the refusal", func() bool { return !p.busy })
	if p.tagErr.Hidden || len(h.shares(vm.ID)) != 0 {
		t.Fatalf("a bad tag was taken: error shown %v, shares %+v", !p.tagErr.Hidden, h.shares(vm.ID))
	}

	// A folder dropped onto the window fills the form with a tag made from its name.
	p.tag.SetText("")
	p.folder.SetText("")
	p.dropped([]fyne.URI{storage.NewFileURI(dir)})
	h.pump("the dropped folder", func() bool { return p.folder.Text == dir })
	if p.tag.Text != "MyDocs" || s.tabs.Selected() != s.sharingTab {
		t.Errorf("after the drop: tag %q, Sharing page shown %v", p.tag.Text, s.tabs.Selected() == s.sharingTab)
	}
	file := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.dropped([]fyne.URI{storage.NewFileURI(file)})
	h.pump("the refused file", func() bool { return contains(p.Status(), "not a folder") })

	p.access.SetSelected(accessReadWrite)
	p.transient.SetChecked(true)
	test.Tap(p.add)
	h.pump("the share added", func() bool { return !p.busy && len(h.shares(vm.ID)) == 1 })
	got := h.shares(vm.ID)[0]
	if got.Tag != "MyDocs" || got.ReadOnly || !got.Transient {
		t.Errorf("share saved as %+v", got)
	}
	if p.folder.Text != "" || p.tag.Text != "" {
		t.Errorf("the form kept %q, %q after adding", p.folder.Text, p.tag.Text)
	}
	if len(p.shares.Objects) != 1 {
		t.Fatalf("the page lists %d shares", len(p.shares.Objects))
	}
	es := h.audit(vm.ID)
	if len(es) != 1 || es[0].Channel != sharingui.ChannelFolder || es[0].Decision != sharingui.DecisionGranted ||
		!contains(es[0].Rule, "read-write") {
		t.Errorf("adding audited as %+v", es)
	}

	row := p.shares.Objects[0].(*fyne.Container)
	var remove interface{ Tapped(*fyne.PointEvent) }
	for _, o := range row.Objects {
		if b, ok := o.(interface{ Tapped(*fyne.PointEvent) }); ok {
			remove = b
		}
	}
	if remove == nil {
		t.Fatal("no Remove button on the share's row")
	}
	remove.Tapped(&fyne.PointEvent{})
	h.pump("the share removed", func() bool { return !p.busy && len(h.shares(vm.ID)) == 0 })
	if es := h.audit(vm.ID); len(es) != 2 || es[0].Decision != sharingui.DecisionRevoked {
		t.Errorf("removing audited as %+v", es)
	}
	if n, _, _ := rec.state(); n != 2 {
		t.Errorf("%d policies pushed for an add and a remove", n)
	}
}

func TestSharingBadgeAndClipboardBridgeFollowThePolicy(t *testing.T) {
	h, rec := newSharingHarness(t)
	ctx := context.Background()
	vm := h.createVM(library.VMSpec{Name: "shown"})
	startFakeVMM(t, vm, 320, 200)
	if err := h.lib.SetState(ctx, vm.ID, library.StateRunning, ""); err != nil {
		t.Fatal(err)
	}
	h.refresh()
	h.m.OpenDisplay(vm.ID)
	h.pump("the display window", func() bool { return h.m.DisplayOpen(vm.ID) })
	w := h.m.displays[vm.ID]
	if w.SharingBadge() != "" || h.row("shown").sharing.Text() != "" {
		t.Fatalf("badges %q / %q with all sharing off", w.SharingBadge(), h.row("shown").sharing.Text())
	}
	if _, runs, _ := rec.state(); len(runs) != 0 {
		t.Fatal("a clipboard bridge ran with the clipboard off")
	}

	p := h.openSettings(vm).sharing
	p.mode.SetSelected("Both")
	h.pump("the bridge", func() bool { _, _, live := rec.state(); return live == 1 })
	if got := w.SharingBadge(); got != "Sharing: clipboard ↔" {
		t.Errorf("window badge %q", got)
	}
	h.refresh()
	if got := h.row("shown").sharing.Text(); got != "Sharing: clipboard ↔" {
		t.Errorf("row badge %q", got)
	}

	// A narrowing reaches the open bridge as soon as it is saved.
	p.mode.SetSelected("Host to guest")
	h.pump("the change saved", func() bool { return !p.busy })
	rec.mu.Lock()
	b := rec.bridge
	rec.mu.Unlock()
	if got := b.Policy().Clipboard; got != library.ClipboardHostToGuest {
		t.Errorf("the bridge still has mode %q", got)
	}
	if got := w.SharingBadge(); got != "Sharing: clipboard →" {
		t.Errorf("window badge %q", got)
	}

	// A copy on the host goes to the guest (here without asking), and is audited.
	test.Tap(p.ask)
	h.pump("ask off saved", func() bool { return !p.busy && !b.Policy().ClipboardAsk })
	fyne.CurrentApp().Clipboard().SetContent("copied on the host")
	h.pump("the host copy sent", func() bool {
		es := h.audit(vm.ID)
		return len(es) > 0 && es[0].Channel == "clipboard" && es[0].Decision == library.DecisionAllowed
	})
	if e := h.audit(vm.ID)[0]; e.Direction != "host-to-guest" || e.Bytes != int64(len("copied on the host")) {
		t.Errorf("the host copy audited as %+v", e)
	}
	if _, runs, _ := rec.state(); len(runs) != 1 {
		t.Errorf("%d bridges ran; policy changes should reach the one open", len(runs))
	}

	p.mode.SetSelected("Off")
	h.pump("the bridge stopped", func() bool { _, _, live := rec.state(); return live == 0 })
	h.refresh()
	if w.SharingBadge() != "" || h.row("shown").sharing.Text() != "" {
		t.Errorf("badges %q / %q after the clipboard was turned off", w.SharingBadge(), h.row("shown").sharing.Text())
	}

	// Typing the clipboard is audited, with a digest and never the text.
	fyne.CurrentApp().Clipboard().SetContent("ls -l\n")
	w.TypeClipboard()
	h.pump("the keystrokes audited", func() bool {
		es := h.audit(vm.ID)
		return len(es) > 0 && es[0].Channel == sharingui.ChannelKeystrokes
	})
	e := h.audit(vm.ID)[0]
	if e.Decision != library.DecisionAllowed || e.Bytes != 6 || len(e.SHA256) != 64 {
		t.Errorf("typing audited as %+v", e)
	}
	w.Close()
}

func TestAuditViewFromTheMenuIsNewestFirst(t *testing.T) {
	h, _ := newSharingHarness(t)
	a := h.createVM(library.VMSpec{Name: "one"})
	b := h.createVM(library.VMSpec{Name: "two"})
	for i, vm := range []library.VM{a, b, a} {
		if _, err := h.lib.AppendAudit(context.Background(), library.AuditEntry{VMID: vm.ID, Channel: "clipboard",
			Direction: "guest-to-host", Bytes: int64(i + 1), Rule: "mode off", Decision: "denied"}); err != nil {
			t.Fatal(err)
		}
	}
	h.refresh()
	menu := h.m.win.MainMenu()
	var item *fyne.MenuItem
	for _, mn := range menu.Items {
		for _, it := range mn.Items {
			if it.Label == "Audit log of all VMs…" {
				item = it
			}
		}
	}
	if item == nil {
		t.Fatal("no audit log in the manager's menu")
	}
	item.Action()
	v := h.m.sharing.audit[""].view
	h.pump("the audit log", func() bool { return !v.Loading() })
	var sizes []string
	for row := range v.Entries() {
		sizes = append(sizes, v.CellText(row, 1)+" "+v.CellText(row, 4))
	}
	if want := []string{"one 3 B", "two 2 B", "one 1 B"}; !slices.Equal(sizes, want) {
		t.Errorf("rows %q, want %q", sizes, want)
	}
	one := h.m.OpenAudit(a.ID)
	h.pump("one VM's audit log", func() bool { return !one.Loading() })
	if n := len(one.Entries()); n != 2 {
		t.Errorf("the audit log of one VM has %d rows, want 2", n)
	}
}
