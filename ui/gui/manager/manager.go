// Package manager is Paddock's main window: the VM library with a live thumbnail of every running VM, the actions
// on a VM (start, shut down, power off, open its display, settings, delete), the New VM wizard, and installer ISOs
// dropped onto the window. The library, the VMs' control sockets and the disks are touched only off Fyne's UI
// goroutine; what they return comes back through fyne.Do.
package manager

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"paddock/engine/machine"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"paddock/engine/control"
	"paddock/library"
	"paddock/ui/gui/vmwindow"
	"paddock/ui/vmctl"
)

// Title is the manager window's title.
const Title = "Paddock"

// Default polling periods.
const (
	DefaultRefreshInterval   = 2 * time.Second
	DefaultThumbnailInterval = time.Second
)

// Options tunes the manager window.
type Options struct {
	// RunOnUI runs f on Fyne's UI goroutine; nil means fyne.Do. Tests pass a queue they drain themselves.
	RunOnUI func(f func())
	// RefreshInterval is how often the list is re-read from the library and the VMs; 0 means the default.
	RefreshInterval time.Duration
	// ThumbnailInterval is how often running VMs' thumbnails are redrawn; 0 means the default.
	ThumbnailInterval time.Duration
	// NoDisplayOnStart keeps Start from opening the VM's display window.
	NoDisplayOnStart bool
	// onlyVM, set by ShowVM, shows no library window, only that VM's display window.
	onlyVM string
	// Limits overrides the host's limits (tests); zero means this host's.
	Limits vmctl.HostLimits
	// Sharing tunes how running VMs' sharing is reached.
	Sharing SharingOptions
}

// Manager is the library window. Its methods are called on the UI goroutine.
type Manager struct {
	app  fyne.App
	win  fyne.Window
	ctl  *vmctl.Controller
	lib  *library.Library
	opts Options
	do   func(func())
	host vmctl.HostLimits

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{} // asks the refresh loop for an immediate pass
	loads  atomic.Int64  // reads the refresh loop has begun

	// Shared with the background loops.
	mu       sync.Mutex
	running  []library.VM    // VMs whose screens have thumbnails, as last read
	inFlight map[string]bool // VM ids being started by this window: the refresh leaves their state alone
	closed   bool

	thumbs  *thumbnailer
	sharing *sharing

	// UI goroutine state.
	vms    []library.VM
	index  map[string]int // VM id -> position in vms
	loaded bool           // the first list has arrived
	// A single-VM app (ShowVM): whether its window was opened, and why it ended if not by the user.
	onlyOpened bool
	onlyErr    error
	shownLoad  int64  // the number of the last refresh-loop read shown
	selected   string // VM id, or ""
	busy       map[string]string
	images     map[string]image.Image // latest thumbnail of each running VM
	displays   map[string]*vmwindow.Window
	settings   map[string]*settingsWindow
	wizard     *wizard
	prompt     *confirmPrompt // the open delete or quit question, if any
	lastState  map[string]library.State

	list                                                   *widget.List
	empty                                                  *widget.Label
	newBtn, startBtn, shutdownBtn, powerOffBtn, displayBtn *widget.Button
	pauseBtn                                               *widget.Button // Pause, or Resume for a paused VM
	settingsBtn, deleteBtn                                 *widget.Button
	notice                                                 *widget.Label
	noticeBox                                              *fyne.Container
	progress                                               *widget.ProgressBarInfinite
}

// New makes the manager window for the library of ctl and starts reading it. Call it on the UI goroutine, then
// Show; Close stops its background work (the VMs keep running).
func New(app fyne.App, ctl *vmctl.Controller, opts Options) *Manager {
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = DefaultRefreshInterval
	}
	if opts.ThumbnailInterval <= 0 {
		opts.ThumbnailInterval = DefaultThumbnailInterval
	}
	m := &Manager{
		app: app, ctl: ctl, lib: ctl.Library(), opts: opts, do: opts.RunOnUI,
		kick: make(chan struct{}, 1), inFlight: map[string]bool{},
		index: map[string]int{}, busy: map[string]string{}, images: map[string]image.Image{},
		displays: map[string]*vmwindow.Window{}, settings: map[string]*settingsWindow{},
		lastState: map[string]library.State{},
	}
	if m.do == nil {
		m.do = fyne.Do
	}
	m.host = opts.Limits
	if m.host.MaxCPUs == 0 {
		m.host = vmctl.ReadHostLimits()
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.sharing = newSharing(m)
	m.thumbs = newThumbnailer(func(id string, img *image.RGBA) {
		m.ui(func() { m.setThumbnail(id, img) })
	})

	m.win = app.NewWindow(Title)
	m.win.SetContent(m.build())
	m.win.Resize(fyne.NewSize(860, 600))
	if opts.onlyVM == "" {
		m.win.SetMaster()
	}
	m.win.SetMainMenu(m.mainMenu())
	m.win.SetOnDropped(func(_ fyne.Position, uris []fyne.URI) { m.HandleDrop(uris) })
	m.win.SetCloseIntercept(m.RequestQuit)

	m.wg.Add(2)
	go m.refreshLoop()
	go m.thumbnailLoop()
	return m
}

// Window is the manager's Fyne window.
func (m *Manager) Window() fyne.Window { return m.win }

// Show shows the window.
func (m *Manager) Show() { m.win.Show() }

// Close stops the background work and closes the consoles it holds. Running VMs are not touched.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	m.thumbs.close()
}

// ui runs f on the UI goroutine unless the manager has closed.
func (m *Manager) ui(f func()) {
	m.do(func() {
		m.mu.Lock()
		closed := m.closed
		m.mu.Unlock()
		if !closed {
			f()
		}
	})
}

// background runs work off the UI goroutine, then done on it with work's result.
func background[T any](m *Manager, work func(ctx context.Context) (T, error), done func(T, error)) {
	go func() {
		v, err := work(m.ctx)
		if m.ctx.Err() != nil {
			return
		}
		m.ui(func() { done(v, err) })
	}()
}

func (m *Manager) build() fyne.CanvasObject {
	m.newBtn = widget.NewButtonWithIcon("New VM", theme.ContentAddIcon(), func() { m.OpenWizard(nil) })
	m.newBtn.Importance = widget.HighImportance
	m.startBtn = widget.NewButtonWithIcon("Start", theme.MediaPlayIcon(), func() { m.Start(m.selected) })
	m.shutdownBtn = widget.NewButtonWithIcon("Shut down", theme.LogoutIcon(), func() { m.Stop(m.selected, false) })
	m.powerOffBtn = widget.NewButtonWithIcon("Power off", theme.MediaStopIcon(), func() { m.Stop(m.selected, true) })
	m.pauseBtn = widget.NewButtonWithIcon("Pause", theme.MediaPauseIcon(), func() { m.TogglePause(m.selected) })
	m.displayBtn = widget.NewButtonWithIcon("Open display", theme.ComputerIcon(), func() { m.OpenDisplay(m.selected) })
	m.settingsBtn = widget.NewButtonWithIcon("Settings", theme.SettingsIcon(), func() { m.OpenSettings(m.selected) })
	m.deleteBtn = widget.NewButtonWithIcon("Delete", theme.DeleteIcon(), func() { m.AskDelete(m.selected) })
	toolbar := container.NewHBox(m.newBtn, widget.NewSeparator(), m.startBtn, m.pauseBtn, m.shutdownBtn, m.powerOffBtn,
		m.displayBtn, m.settingsBtn, m.deleteBtn)

	m.list = widget.NewList(
		func() int { return len(m.vms) },
		func() fyne.CanvasObject { return newVMRow(m) },
		func(i widget.ListItemID, o fyne.CanvasObject) {
			if i >= 0 && i < len(m.vms) {
				vm := m.vms[i]
				o.(*vmRow).show(i, vm, m.images[vm.ID], m.busy[vm.ID])
			}
		})
	m.list.OnSelected = func(i widget.ListItemID) {
		if i >= 0 && i < len(m.vms) {
			m.selected = m.vms[i].ID
		}
		m.updateButtons()
	}
	m.list.OnUnselected = func(widget.ListItemID) {
		m.selected = ""
		m.updateButtons()
	}
	m.empty = widget.NewLabel("Reading the library…")
	m.empty.Alignment = fyne.TextAlignCenter
	m.empty.Wrapping = fyne.TextWrapWord

	m.notice = widget.NewLabel("")
	m.notice.Wrapping = fyne.TextWrapWord
	m.progress = widget.NewProgressBarInfinite()
	m.progress.Stop()
	m.progress.Hide()
	dismiss := widget.NewButtonWithIcon("", theme.CancelIcon(), m.clearNotice)
	dismiss.Importance = widget.LowImportance
	m.noticeBox = container.NewBorder(nil, nil, nil, dismiss, container.NewVBox(m.notice, m.progress))
	m.noticeBox.Hide()

	m.updateButtons()
	return container.NewBorder(toolbar, m.noticeBox, nil, nil, container.NewStack(m.list, container.NewCenter(m.empty)))
}

// Notice is the message shown at the bottom of the window ("" when none).
func (m *Manager) Notice() string {
	if m.noticeBox.Hidden {
		return ""
	}
	return m.notice.Text
}

func (m *Manager) showNotice(text string, isError bool) {
	m.notice.SetText(text)
	if isError {
		m.notice.Importance = widget.DangerImportance
	} else {
		m.notice.Importance = widget.MediumImportance
	}
	m.notice.Refresh()
	m.progress.Stop()
	m.progress.Hide()
	m.noticeBox.Show()
}

// showWorking shows text with a moving progress bar, for work that takes a while.
func (m *Manager) showWorking(text string) {
	m.showNotice(text, false)
	m.progress.Show()
	m.progress.Start()
}

func (m *Manager) clearNotice() {
	m.progress.Stop()
	m.noticeBox.Hide()
}

// errorText words an error for the window: the library's field errors read as sentences.
func errorText(err error) string {
	var ve *library.ValidationError
	if errors.As(err, &ve) {
		return capitalize(ve.Field) + " " + ve.Problem + "."
	}
	return capitalize(err.Error())
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// VMs is the list as the window shows it.
func (m *Manager) VMs() []library.VM { return slices.Clone(m.vms) }

// vm finds a VM of the list by id.
func (m *Manager) vm(id string) (library.VM, bool) {
	i, ok := m.index[id]
	if !ok {
		return library.VM{}, false
	}
	return m.vms[i], true
}

// nameTaken says whether a VM of the list has that name (ignoring case, as the library does).
func (m *Manager) nameTaken(name string) bool {
	for _, vm := range m.vms {
		if strings.EqualFold(vm.Name, name) {
			return true
		}
	}
	return false
}

// Select selects the VM with that id in the list.
func (m *Manager) Select(id string) {
	if i, ok := m.index[id]; ok {
		m.list.Select(i)
	}
}

// updateButtons enables the actions the selected VM's state allows.
func (m *Manager) updateButtons() {
	vm, ok := m.vm(m.selected)
	busy := ok && m.busy[vm.ID] != ""
	set := func(b *widget.Button, on bool) {
		if on && !busy {
			b.Enable()
		} else {
			b.Disable()
		}
	}
	active := ok && vm.State.Active()
	set(m.startBtn, ok && !active)
	paused := ok && vm.State == library.StatePaused
	set(m.pauseBtn, ok && (vm.State == library.StateRunning || paused))
	if paused {
		m.pauseBtn.SetText("Resume")
		m.pauseBtn.SetIcon(theme.MediaPlayIcon())
	} else {
		m.pauseBtn.SetText("Pause")
		m.pauseBtn.SetIcon(theme.MediaPauseIcon())
	}
	set(m.shutdownBtn, active && !paused)
	set(m.powerOffBtn, active)
	set(m.displayBtn, ok && (vm.State == library.StateRunning || vm.State == library.StatePaused))
	set(m.settingsBtn, ok)
	set(m.deleteBtn, ok && !active)
}

// refreshLoop re-reads the library and the VMs' states until the manager closes.
func (m *Manager) refreshLoop() {
	defer m.wg.Done()
	t := time.NewTicker(m.opts.RefreshInterval)
	defer t.Stop()
	for {
		n := m.loads.Add(1)
		vms, err := m.load(m.ctx)
		if m.ctx.Err() != nil {
			return
		}
		m.ui(func() {
			m.setVMs(vms, err)
			m.shownLoad = max(m.shownLoad, n)
		})
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		case <-m.kick:
		}
	}
}

// requestRefresh asks for an immediate re-read.
func (m *Manager) requestRefresh() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// load reads every VM and brings the recorded state of active ones up to date with their VMMs.
func (m *Manager) load(ctx context.Context) ([]library.VM, error) {
	vms, err := m.lib.ListVMs(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	inFlight := maps(m.inFlight)
	m.mu.Unlock()
	var running []library.VM
	for i, vm := range vms {
		if !vm.State.Active() || inFlight[vm.ID] {
			continue
		}
		if r, err := m.ctl.Refresh(ctx, vm.ID); err == nil {
			vms[i] = r
		} else {
			slog.Debug("refreshing VM state", "vm", vm.Name, "err", err)
		}
	}
	for _, vm := range vms {
		if vm.State == library.StateRunning || vm.State == library.StatePaused || vm.State == library.StateStopping {
			running = append(running, vm)
		}
	}
	m.mu.Lock()
	m.running = running
	m.mu.Unlock()
	return vms, nil
}

func maps(in map[string]bool) map[string]bool {
	out := make(map[string]bool, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// setVMs shows a newly read list.
func (m *Manager) setVMs(vms []library.VM, err error) {
	if err != nil {
		m.showNotice("Cannot read the library: "+err.Error(), true)
		return
	}
	m.loaded = true
	m.vms = vms
	m.index = make(map[string]int, len(vms))
	for i, vm := range vms {
		m.index[vm.ID] = i
		prev, seen := m.lastState[vm.ID]
		if seen && prev != vm.State && vm.State == library.StateCrashed {
			m.showNotice(fmt.Sprintf("%s crashed: %s", vm.Name, orUnknown(vm.LastError)), true)
		}
	}
	m.lastState = make(map[string]library.State, len(vms))
	for _, vm := range vms {
		m.lastState[vm.ID] = vm.State
	}
	for id, w := range m.displays {
		if vm, ok := m.vm(id); !ok || !vm.State.Active() {
			delete(m.displays, id)
			w.Close()
		}
	}
	for id := range m.images {
		if vm, ok := m.vm(id); !ok || !vm.State.Active() {
			delete(m.images, id)
		}
	}
	m.showOnlyVM()
	m.sharing.vmsChanged()
	for id, s := range m.settings {
		if vm, ok := m.vm(id); ok {
			s.vmChanged(vm)
		} else {
			s.vmDeleted()
		}
	}
	if i, ok := m.index[m.selected]; ok {
		m.list.Select(i)
	} else if m.selected != "" {
		m.selected = ""
		m.list.UnselectAll()
	}
	if len(vms) == 0 {
		m.empty.SetText("No VMs yet. Click New VM, or drop an installer ISO onto this window.")
		m.empty.Show()
	} else {
		m.empty.Hide()
	}
	m.list.Refresh()
	m.updateButtons()
}

func orUnknown(s string) string {
	if s == "" {
		return "no reason was recorded"
	}
	return s
}

// thumbnailLoop redraws the running VMs' thumbnails until the manager closes.
func (m *Manager) thumbnailLoop() {
	defer m.wg.Done()
	t := time.NewTicker(m.opts.ThumbnailInterval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		m.mu.Lock()
		running := m.running
		m.mu.Unlock()
		m.thumbs.tick(running)
	}
}

func (m *Manager) setThumbnail(id string, img image.Image) {
	vm, ok := m.vm(id)
	if !ok || !vm.State.Active() {
		return
	}
	m.images[id] = img
	m.list.RefreshItem(m.index[id])
}

// Thumbnail is the latest thumbnail of a running VM's screen, or nil.
func (m *Manager) Thumbnail(id string) image.Image { return m.images[id] }

// setBusy marks a VM as having an action under way (what is shown in its state column), or clears it.
func (m *Manager) setBusy(id, what string) {
	if what == "" {
		delete(m.busy, id)
	} else {
		m.busy[id] = what
	}
	if i, ok := m.index[id]; ok {
		m.list.RefreshItem(i)
	}
	m.updateButtons()
}

// Start starts the VM, then opens its display.
func (m *Manager) Start(id string) {
	vm, ok := m.vm(id)
	if !ok || m.busy[id] != "" {
		return
	}
	m.setBusy(id, "Starting…")
	m.showWorking("Starting " + vm.Name + "…")
	m.mu.Lock()
	m.inFlight[id] = true
	m.mu.Unlock()
	background(m, func(ctx context.Context) (library.VM, error) {
		defer func() {
			m.mu.Lock()
			delete(m.inFlight, id)
			m.mu.Unlock()
		}()
		return m.ctl.Start(ctx, id)
	}, func(started library.VM, err error) {
		m.setBusy(id, "")
		m.requestRefresh()
		if err != nil {
			m.showStartError(vm, err)
			return
		}
		m.showNotice(started.Name+" is running.", false)
		if !m.opts.NoDisplayOnStart {
			m.openDisplay(started)
		}
	})
}

func (m *Manager) showStartError(vm library.VM, err error) {
	switch {
	case errors.Is(err, vmctl.ErrNothingToBoot):
		m.showNotice(fmt.Sprintf("%s has nothing to boot: insert an installer ISO or add a disk under Settings.",
			vm.Name), true)
	case errors.Is(err, machine.ErrNoFirmware):
		m.showNotice(fmt.Sprintf("%s cannot boot its disks or ISO: the SeaBIOS firmware is not installed "+
			"(apt-get install seabios).", vm.Name), true)
	case errors.Is(err, vmctl.ErrAlreadyRunning):
		m.showNotice(vm.Name+" is already running.", false)
	default:
		m.showNotice(fmt.Sprintf("%s did not start: %s", vm.Name, err), true)
	}
}

// Stop presses the VM's power button (ACPI shut down), or with force powers it off at once.
func (m *Manager) Stop(id string, force bool) {
	vm, ok := m.vm(id)
	if !ok || m.busy[id] != "" {
		return
	}
	what := "Shutting down…"
	if force {
		what = "Powering off…"
	}
	m.setBusy(id, what)
	background(m, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, m.ctl.Stop(ctx, id, force)
	}, func(_ struct{}, err error) {
		m.setBusy(id, "")
		m.requestRefresh()
		switch {
		case errors.Is(err, vmctl.ErrNotRunning):
			m.showNotice(vm.Name+" is not running.", false)
		case err != nil:
			m.showNotice(fmt.Sprintf("Could not stop %s: %s", vm.Name, err), true)
		case force:
			m.showNotice(vm.Name+" was powered off.", false)
		default:
			m.showNotice(vm.Name+" was asked to shut down; the guest decides when.", false)
		}
	})
}

// TogglePause pauses a running VM, or resumes a paused one.
func (m *Manager) TogglePause(id string) {
	vm, ok := m.vm(id)
	if !ok || m.busy[id] != "" {
		return
	}
	resume := vm.State == library.StatePaused
	verb, what, act := "pause", "Pausing…", m.ctl.Pause
	if resume {
		verb, what, act = "resume", "Resuming…", m.ctl.Resume
	}
	m.setBusy(id, what)
	background(m, func(ctx context.Context) (library.VM, error) {
		return act(ctx, id)
	}, func(_ library.VM, err error) {
		m.setBusy(id, "")
		m.requestRefresh()
		switch {
		case err != nil:
			m.showNotice(fmt.Sprintf("Could not %s %s: %s", verb, vm.Name, err), true)
		case resume:
			m.showNotice(vm.Name+" is running again.", false)
		default:
			m.showNotice(vm.Name+" is paused.", false)
		}
	})
}

// OpenDisplay opens the running VM's display window, or brings it forward when it is open.
func (m *Manager) OpenDisplay(id string) {
	if vm, ok := m.vm(id); ok {
		m.openDisplay(vm)
	}
}

func (m *Manager) openDisplay(vm library.VM) {
	if w := m.displays[vm.ID]; w != nil {
		w.Fyne().RequestFocus()
		return
	}
	if !vm.State.Active() {
		m.showNotice(vm.Name+" is not running: start it first.", false)
		return
	}
	background(m, func(context.Context) (*control.Console, error) {
		return openConsole(vm)
	}, func(c *control.Console, err error) {
		if err != nil {
			m.showNotice(fmt.Sprintf("Cannot open the display of %s: %s", vm.Name, err), true)
			if m.opts.onlyVM == vm.ID {
				m.endOnly(fmt.Errorf("cannot open the display of %s: %w", vm.Name, err))
			}
			return
		}
		if m.displays[vm.ID] != nil { // opened twice in a hurry
			go c.Close()
			return
		}
		var w *vmwindow.Window
		opts := vmwindow.Options{OnClose: func() {
			if m.displays[vm.ID] == w {
				delete(m.displays, vm.ID)
				m.sharing.windowClosed(vm.ID)
			}
			go c.Close()
			m.onlyWindowClosed(vm)
		}}
		if vm.Boot == library.BootFirmware {
			opts.OnEject = func() { m.EjectISO(vm.ID, w) }
		}
		w = vmwindow.New(m.app, vm.Name, c, m.sharing.windowOptions(vm, opts))
		m.displays[vm.ID] = w
		m.sharing.windowOpened(vm, w)
		w.Show()
	})
}

// DisplayOpen says whether the VM's display window is open.
func (m *Manager) DisplayOpen(id string) bool { return m.displays[id] != nil }

// confirmPrompt is a question in a dialog, with the controls tests press.
type confirmPrompt struct {
	dlg     dialog.Dialog
	message string
	keep    *widget.Check // delete: keep the disks
	ok      *widget.Button
	cancel  *widget.Button
}

func (m *Manager) ask(title, message, okText string, extra fyne.CanvasObject, onOK func()) *confirmPrompt {
	p := &confirmPrompt{message: message}
	text := widget.NewLabel(message)
	text.Wrapping = fyne.TextWrapWord
	content := container.NewVBox(text)
	if extra != nil {
		content.Add(extra)
	}
	p.ok = widget.NewButton(okText, nil)
	p.ok.Importance = widget.DangerImportance
	p.cancel = widget.NewButton("Cancel", nil)
	p.dlg = dialog.NewCustomWithoutButtons(title, container.NewBorder(nil,
		container.NewHBox(layoutSpacer(), p.cancel, p.ok), nil, nil, content), m.win)
	p.ok.OnTapped = func() {
		p.dlg.Hide()
		if m.prompt == p {
			m.prompt = nil
		}
		onOK()
	}
	p.cancel.OnTapped = func() {
		p.dlg.Hide()
		if m.prompt == p {
			m.prompt = nil
		}
	}
	p.dlg.Resize(fyne.NewSize(460, 200))
	m.prompt = p
	p.dlg.Show()
	return p
}

// AskDelete asks whether to delete the VM, offering to keep its disk images.
func (m *Manager) AskDelete(id string) {
	vm, ok := m.vm(id)
	if !ok {
		return
	}
	if vm.State.Active() {
		m.showNotice(vm.Name+" is running: shut it down before deleting it.", true)
		return
	}
	var msg string
	switch n := len(vm.Disks); n {
	case 0:
		msg = fmt.Sprintf("Delete %s? Its settings are removed from the library.", vm.Name)
	default:
		msg = fmt.Sprintf("Delete %s? Its settings are removed from the library, and disk images Paddock made "+
			"for it are deleted unless you keep them. Images you attached from elsewhere are never deleted.", vm.Name)
	}
	keep := widget.NewCheck("Keep its disk images", nil)
	if len(vm.Disks) == 0 {
		keep.Disable()
	}
	var p *confirmPrompt
	p = m.ask("Delete "+vm.Name, msg, "Delete", keep, func() { m.delete(vm, p.keep.Checked) })
	p.keep = keep
}

func (m *Manager) delete(vm library.VM, keepDisks bool) {
	m.setBusy(vm.ID, "Deleting…")
	background(m, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, m.lib.DeleteVM(ctx, vm.ID, keepDisks)
	}, func(_ struct{}, err error) {
		m.setBusy(vm.ID, "")
		m.requestRefresh()
		if err != nil {
			m.showNotice(fmt.Sprintf("Could not delete %s: %s", vm.Name, err), true)
			return
		}
		if keepDisks && len(vm.Disks) > 0 {
			m.showNotice(fmt.Sprintf("Deleted %s; its disk images are kept in %s.", vm.Name, m.lib.VMDir(vm.ID)), false)
		} else {
			m.showNotice("Deleted "+vm.Name+".", false)
		}
	})
}

// RequestQuit closes the window, first asking when VMs are running (they keep running).
func (m *Manager) RequestQuit() {
	var names []string
	for _, vm := range m.vms {
		if vm.State.Active() {
			names = append(names, vm.Name)
		}
	}
	if len(names) == 0 {
		m.quit()
		return
	}
	verb := "is"
	if len(names) > 1 {
		verb = "are"
	}
	msg := fmt.Sprintf("%s %s still running. Closing Paddock leaves them running; open Paddock again to see "+
		"them.", strings.Join(names, ", "), verb)
	m.ask("Quit Paddock?", msg, "Quit", nil, m.quit)
}

func (m *Manager) quit() {
	for _, w := range m.displays {
		w.Close()
	}
	for _, s := range m.settings {
		s.win.Close()
	}
	m.sharing.closeAll()
	if m.wizard != nil {
		m.wizard.win.Close()
	}
	m.Close()
	m.win.Close()
	m.app.Quit()
}

// EjectISO takes the ISO out of the VM's CD-ROM drive, in the library and, if it runs, in the VM at once (as an
// installer's "remove the installation media" asks); the VM's window says how it went.
func (m *Manager) EjectISO(id string, w *vmwindow.Window) {
	background(m, func(ctx context.Context) (string, error) {
		vm, err := m.lib.GetVM(ctx, id)
		if err != nil {
			return "", err
		}
		if vm.ISO == "" {
			return "The drive is already empty.", nil
		}
		if err := m.lib.EjectISO(ctx, id); err != nil {
			return "", err
		}
		if err := vmctl.ChangeMedia(vm, ""); err != nil {
			return "", fmt.Errorf("ejected in the library, but the running VM's drive did not follow: %w", err)
		}
		return "Ejected " + filepath.Base(vm.ISO) + ".", nil
	}, func(msg string, err error) {
		if err != nil {
			msg = "Eject failed: " + err.Error()
		}
		if w != nil {
			w.SetStatus(msg)
		}
		m.requestRefresh()
	})
}
