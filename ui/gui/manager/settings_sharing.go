package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"paddock/library"
	"paddock/sharing/policy"
	"paddock/ui/gui/sharingui"
)

// Choices of the Sharing page.
const (
	accessReadOnly  = "Read-only"
	accessReadWrite = "Read-write"
)

var clipboardModes = []struct {
	label string
	mode  library.ClipboardMode
}{
	{"Off", library.ClipboardOff},
	{"Host to guest", library.ClipboardHostToGuest},
	{"Guest to host", library.ClipboardGuestToHost},
	{"Both", library.ClipboardBoth},
}

// SharingNote heads the Sharing page.
const SharingNote = "Everything here is off until you turn it on, applies at once (also to a running VM) and is " +
	"recorded in the VM's audit log. A folder added while the VM runs appears from the guest's next boot; " +
	"removing one takes it away at once."

// sharingPage is the settings window's Sharing page: the clipboard's mode, size cap and confirmation, and the
// folders the VM may mount. Each change is saved, audited and pushed to a running VM at once.
type sharingPage struct {
	s       *settingsWindow
	busy    bool
	filling bool // the controls are being set from the VM: their callbacks save nothing
	// shown is what the controls were last set from: a re-read that changed nothing leaves alone what is being
	// typed.
	shown       library.SharePolicy
	shownShares []library.Share
	everShown   bool

	mode      *widget.RadioGroup
	size      *widget.Entry
	setSize   *widget.Button
	sizeErr   *widget.Label
	ask       *widget.Check
	shares    *fyne.Container
	folder    *widget.Entry
	folderErr *widget.Label
	browse    *widget.Button
	tag       *widget.Entry
	tagErr    *widget.Label
	access    *widget.RadioGroup
	transient *widget.Check
	add       *widget.Button
	status    *widget.Label
	controls  []fyne.Disableable
}

func newSharingPage(s *settingsWindow) *sharingPage {
	p := &sharingPage{s: s}
	var labels []string
	for _, c := range clipboardModes {
		labels = append(labels, c.label)
	}
	p.mode = widget.NewRadioGroup(labels, func(string) { p.policyEdited() })
	p.mode.Required = true
	p.mode.Horizontal = true
	p.size = widget.NewEntry()
	p.size.OnSubmitted = func(string) { p.policyEdited() }
	p.setSize = widget.NewButton("Set", p.policyEdited)
	p.ask = widget.NewCheck("Ask before each transfer", func(bool) { p.policyEdited() })
	p.shares = container.NewVBox()
	p.folder = widget.NewEntry()
	p.folder.SetPlaceHolder("Choose or drop a folder")
	p.browse = widget.NewButtonWithIcon("Choose…", theme.FolderOpenIcon(), p.chooseFolder)
	p.tag = widget.NewEntry()
	p.tag.SetPlaceHolder("the name the guest mounts, e.g. docs")
	p.access = widget.NewRadioGroup([]string{accessReadOnly, accessReadWrite}, nil)
	p.access.Horizontal = true
	p.access.Required = true
	p.access.SetSelected(accessReadOnly)
	p.transient = widget.NewCheck("Only until this VM powers off", nil)
	p.add = widget.NewButtonWithIcon("Add folder", theme.ContentAddIcon(), p.addShare)
	p.status = widget.NewLabel("")
	p.status.Wrapping = fyne.TextWrapWord
	errLabel := func() *widget.Label {
		l := widget.NewLabel("")
		l.Importance = widget.DangerImportance
		l.Wrapping = fyne.TextWrapWord
		l.Hide()
		return l
	}
	p.sizeErr, p.folderErr, p.tagErr = errLabel(), errLabel(), errLabel()
	p.controls = []fyne.Disableable{p.mode, p.size, p.setSize, p.ask, p.folder, p.browse, p.tag, p.access,
		p.transient, p.add}
	return p
}

// content is the page.
func (p *sharingPage) content() fyne.CanvasObject {
	note := widget.NewLabel(SharingNote)
	note.Wrapping = fyne.TextWrapWord
	form := func(rows ...fyne.CanvasObject) *fyne.Container { return container.New(layout.NewFormLayout(), rows...) }
	clip := form(
		widget.NewLabel("Clipboard"), p.mode,
		widget.NewLabel("Largest text"), container.NewVBox(container.NewBorder(nil, nil, nil, p.setSize, p.size), p.sizeErr),
		layout.NewSpacer(), p.ask)
	addForm := form(
		widget.NewLabel("Folder"), container.NewVBox(container.NewBorder(nil, nil, nil, p.browse, p.folder), p.folderErr),
		widget.NewLabel("Tag"), container.NewVBox(p.tag, p.tagErr),
		widget.NewLabel("Access"), p.access,
		layout.NewSpacer(), p.transient,
		layout.NewSpacer(), container.NewHBox(p.add))
	audit := widget.NewButtonWithIcon("Audit log…", theme.ListIcon(), func() { p.s.m.OpenAudit(p.s.vm.ID) })
	bold := func(s string) *widget.Label {
		return widget.NewLabelWithStyle(s, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	}
	return container.NewVScroll(container.NewVBox(note, bold("Clipboard (text only, needs paddock-agent in the guest)"),
		clip, widget.NewSeparator(), bold("Shared folders"), p.shares, addForm, widget.NewSeparator(),
		container.NewBorder(nil, nil, nil, audit, p.status)))
}

// show sets the controls from vm, unless a change is being saved.
func (p *sharingPage) show(vm library.VM) {
	if p.busy {
		return
	}
	p.enable(true)
	if p.everShown && vm.Sharing == p.shown && slices.Equal(vm.Shares, p.shownShares) {
		return
	}
	p.everShown, p.shown, p.shownShares = true, vm.Sharing, slices.Clone(vm.Shares)
	p.filling = true
	defer func() { p.filling = false }()
	for _, c := range clipboardModes {
		if c.mode == vm.Sharing.Clipboard {
			p.mode.SetSelected(c.label)
		}
	}
	if p.mode.Selected == "" {
		p.mode.SetSelected(clipboardModes[0].label)
	}
	p.size.SetText(sharingui.FormatSize(vm.Sharing.ClipboardMaxBytes))
	p.sizeErr.Hide()
	p.ask.SetChecked(vm.Sharing.ClipboardAsk)
	p.shares.RemoveAll()
	if len(vm.Shares) == 0 {
		p.shares.Add(widget.NewLabel("No folders are shared."))
	}
	for _, sh := range vm.Shares {
		sh := sh
		access := "read-only"
		if !sh.ReadOnly {
			access = "read-write"
		}
		if sh.Transient {
			access += ", until power-off"
		}
		label := widget.NewLabel(fmt.Sprintf("%s — %s (%s)", sh.Tag, sh.HostDir, access))
		label.Truncation = fyne.TextTruncateEllipsis
		remove := widget.NewButtonWithIcon("Remove", theme.DeleteIcon(), func() { p.removeShare(sh) })
		p.shares.Add(container.NewBorder(nil, nil, nil, remove, label))
	}
}

// disable turns the page off (the VM was deleted).
func (p *sharingPage) disable() {
	p.busy = true
	p.enable(false)
}

func (p *sharingPage) enable(on bool) {
	set := func(d fyne.Disableable) {
		if on {
			d.Enable()
		} else {
			d.Disable()
		}
	}
	for _, d := range p.controls {
		set(d)
	}
	for _, o := range p.shares.Objects {
		if r, ok := o.(*fyne.Container); ok {
			for _, c := range r.Objects {
				if d, ok := c.(fyne.Disableable); ok {
					set(d)
				}
			}
		}
	}
}

func (p *sharingPage) setStatus(text string, isError bool) {
	p.status.SetText(text)
	p.status.Importance = widget.MediumImportance
	if isError {
		p.status.Importance = widget.DangerImportance
	}
	p.status.Refresh()
}

func showError(l *widget.Label, text string) {
	l.SetText(text)
	if text == "" {
		l.Hide()
	} else {
		l.Show()
	}
}

// Status is the page's message line.
func (p *sharingPage) Status() string { return p.status.Text }

// policyEdited saves the clipboard controls when they differ from the VM's policy.
func (p *sharingPage) policyEdited() {
	if p.filling || p.busy {
		return
	}
	pol := p.s.vm.Sharing
	for _, c := range clipboardModes {
		if c.label == p.mode.Selected {
			pol.Clipboard = c.mode
		}
	}
	pol.ClipboardAsk = p.ask.Checked
	n, err := sharingui.ParseSize(p.size.Text)
	if err == nil && (n < 1 || n > library.MaxClipBytes) {
		err = fmt.Errorf("must be between 1 byte and %s", sharingui.FormatSize(library.MaxClipBytes))
	}
	if err != nil {
		showError(p.sizeErr, capitalize(err.Error())+".")
		p.setStatus("Nothing was saved: correct the size.", true)
		return
	}
	showError(p.sizeErr, "")
	pol.ClipboardMaxBytes = n
	if pol == p.s.vm.Sharing {
		return
	}
	old := p.s.vm.Sharing
	p.save("Saving the clipboard setting…", func(ctx context.Context, lib *library.Library, vm library.VM) error {
		if err := lib.SetSharePolicy(ctx, vm.ID, pol); err != nil {
			return err
		}
		if e, ok := policy.ClipboardChange(vm, old, pol); ok {
			appendAudit(ctx, lib, e)
		}
		return nil
	}, "Clipboard: "+policy.ClipboardWords(pol)+".", nil)
}

func appendAudit(ctx context.Context, lib *library.Library, e library.AuditEntry) {
	if _, err := lib.AppendAudit(ctx, e); err != nil {
		slog.Error("writing audit entry", "vm", e.VMName, "err", err)
	}
}

// sharingSaved is a change saved: the VM as it is now, and whether a running VM took it.
type sharingSaved struct {
	vm       library.VM
	applyErr error
}

// save runs a sharing change off the UI goroutine, then pushes the VM's new policy to it when it runs; after
// (when not nil) runs once the change is saved.
func (p *sharingPage) save(what string, work func(ctx context.Context, lib *library.Library, vm library.VM) error,
	done string, after func()) {
	p.busy = true
	p.enable(false)
	p.setStatus(what, false)
	m, vm := p.s.m, p.s.vm
	background(m, func(ctx context.Context) (sharingSaved, error) {
		if err := work(ctx, m.lib, vm); err != nil {
			return sharingSaved{}, err
		}
		cur, err := m.lib.GetVM(ctx, vm.ID)
		if err != nil {
			return sharingSaved{}, err
		}
		return sharingSaved{vm: cur, applyErr: m.sharing.apply(ctx, cur)}, nil
	}, func(r sharingSaved, err error) {
		p.busy = false
		m.requestRefresh()
		if err != nil {
			p.everShown = false // put back what the VM has
			p.show(p.s.vm)
			p.failed(err)
			return
		}
		if r.vm.Version > p.s.vm.Version && p.s.base == p.s.vm.Version {
			p.s.base = r.vm.Version // the page's own change is no conflict for the other pages' fields
		}
		p.s.vmChanged(r.vm)
		m.sharing.vmChanged(r.vm)
		if after != nil {
			after()
		}
		if r.applyErr != nil {
			p.setStatus(done+" Saved, but the running VM did not take it: "+r.applyErr.Error(), true)
			return
		}
		p.setStatus(done, false)
	})
}

// failed shows why a change was refused, by the field it concerns.
func (p *sharingPage) failed(err error) {
	var ve *library.ValidationError
	if errors.As(err, &ve) {
		switch ve.Field {
		case "tag":
			showError(p.tagErr, capitalize(ve.Problem)+".")
		case "folder":
			showError(p.folderErr, capitalize(ve.Problem)+".")
		case "clipboard size":
			showError(p.sizeErr, capitalize(ve.Problem)+".")
		}
	}
	p.setStatus("Nothing was saved: "+errorText(err), true)
}

func (p *sharingPage) chooseFolder() {
	d := dialog.NewFolderOpen(func(u fyne.ListableURI, err error) {
		if err != nil || u == nil {
			return
		}
		p.pickFolder(u.Path())
	}, p.s.win)
	d.Show()
}

// pickFolder puts path in the add form, with a tag made from its name when none is typed yet.
func (p *sharingPage) pickFolder(path string) {
	p.folder.SetText(path)
	showError(p.folderErr, "")
	if strings.TrimSpace(p.tag.Text) == "" {
		p.tag.SetText(suggestTag(filepath.Base(path), p.s.vm.Shares))
	}
	p.setStatus("Check the tag and the access, then Add folder.", false)
}

// suggestTag makes a mount tag from a folder's name that none of the VM's shares has.
func suggestTag(name string, shares []library.Share) string {
	var b strings.Builder
	for _, r := range name {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.' {
			b.WriteRune(r)
		}
	}
	base := strings.Trim(b.String(), ".")
	if len(base) > library.MaxTagLen-3 {
		base = base[:library.MaxTagLen-3]
	}
	if base == "" {
		base = "share"
	}
	taken := func(t string) bool {
		for _, s := range shares {
			if s.Tag == t {
				return true
			}
		}
		return false
	}
	tag := base
	for n := 2; taken(tag) && n < 100; n++ {
		tag = fmt.Sprintf("%s-%d", base, n)
	}
	return tag
}

// dropped takes what was dropped onto the settings window: a folder goes into the add form.
func (p *sharingPage) dropped(uris []fyne.URI) {
	if len(uris) == 0 || p.busy {
		return
	}
	u := uris[0]
	if u.Scheme() != "file" {
		p.setStatus(u.String()+" is not a folder on this computer. Nothing was changed.", true)
		return
	}
	path := u.Path()
	background(p.s.m, func(context.Context) (bool, error) {
		st, err := os.Stat(path)
		if err != nil {
			return false, err
		}
		return st.IsDir(), nil
	}, func(dir bool, err error) {
		switch {
		case err != nil:
			p.setStatus(fmt.Sprintf("Cannot share %s: %v", path, err), true)
		case !dir:
			p.setStatus(filepath.Base(path)+" is not a folder: only folders can be shared. Nothing was changed.", true)
		default:
			p.s.tabs.Select(p.s.sharingTab)
			p.pickFolder(path)
		}
	})
}

func (p *sharingPage) addShare() {
	if p.busy {
		return
	}
	showError(p.folderErr, "")
	showError(p.tagErr, "")
	dir, tag := strings.TrimSpace(p.folder.Text), strings.TrimSpace(p.tag.Text)
	if dir == "" {
		showError(p.folderErr, "Choose a folder, or drop one onto this window.")
		p.setStatus("Nothing was saved.", true)
		return
	}
	share := library.Share{HostDir: dir, Tag: tag, ReadOnly: p.access.Selected != accessReadWrite,
		Transient: p.transient.Checked}
	p.save("Adding "+filepath.Base(dir)+"…", func(ctx context.Context, lib *library.Library, vm library.VM) error {
		added, err := lib.AddShare(ctx, vm.ID, share)
		if err != nil {
			return err
		}
		appendAudit(ctx, lib, policy.ShareChange(vm, added, true))
		return nil
	}, fmt.Sprintf("Sharing %s as %q%s.", filepath.Base(dir), tag, fromNextStart(p.s.vm)), func() {
		p.folder.SetText("")
		p.tag.SetText("")
	})
}

// fromNextStart says when a folder added now reaches the guest.
func fromNextStart(vm library.VM) string {
	if vm.State.Active() {
		return " from the guest's next boot"
	}
	return ""
}

func (p *sharingPage) removeShare(s library.Share) {
	if p.busy {
		return
	}
	p.save("Removing "+s.Tag+"…", func(ctx context.Context, lib *library.Library, vm library.VM) error {
		if err := lib.RemoveShare(ctx, vm.ID, s.Tag); err != nil {
			return err
		}
		appendAudit(ctx, lib, policy.ShareChange(vm, s, false))
		return nil
	}, fmt.Sprintf("%q is no longer shared.", s.Tag), nil)
}
