package manager

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/widget"

	"paddock/library"
	"paddock/library/iso"
	"paddock/ui/vmctl"
)

// Choices of the settings window.
const (
	bootFirmware = "Firmware (disks and ISO)"
	bootDirect   = "Linux kernel (direct boot)"

	resolutionHost   = "Follow the host display"
	resolutionCustom = "Custom"
)

var (
	bootOrders = []struct{ label, value string }{
		{"Disk, then CD-ROM", "disk,cdrom"},
		{"CD-ROM, then disk", "cdrom,disk"},
		{"Disk only", "disk"},
		{"CD-ROM only", "cdrom"},
	}
	resolutions = []string{resolutionHost, "1024x768", "1280x720", "1280x800", "1366x768", "1600x900",
		"1920x1080", "1920x1200", resolutionCustom}
)

// NotWhileRunning is what the settings window says of the settings a running VM cannot change.
const NotWhileRunning = "The VM is running: CPUs, memory, boot, display and disks can change only while it is " +
	"stopped. The name and the ISO can change now."

// settingsWindow edits one VM: name, CPUs, memory, boot (firmware or a kernel, and the boot order), display
// resolution, the ISO and the disks. Fields are saved together with Save; the ISO and disk actions apply at once.
type settingsWindow struct {
	m   *Manager
	win fyne.Window
	vm  library.VM // as last read
	// base is the configuration version the edited fields started from: Save refuses to overwrite a change made
	// elsewhere since.
	base int64

	running    *widget.Label
	name       *widget.Entry
	cpus       *widget.Entry
	memory     *widget.Entry
	boot       *widget.RadioGroup
	kernel     *widget.Entry
	initrd     *widget.Entry
	cmdline    *widget.Entry
	bootOrder  *widget.Select
	resolution *widget.Select
	customRes  *widget.Entry
	isoLabel   *widget.Label
	insertISO  *widget.Button
	ejectISO   *widget.Button
	disks      *fyne.Container
	addSize    *widget.Entry
	addDisk    *widget.Button
	attachRO   *widget.Check
	attachDisk *widget.Button
	errs       map[string]*widget.Label
	status     *widget.Label
	save       *widget.Button
	closeBtn   *widget.Button
	busy       bool
	restricted []fyne.Disableable // what only a stopped VM may change
	prompt     *confirmPrompt     // the open disk-removal question
	sharing    *sharingPage
	tabs       *container.AppTabs
	sharingTab *container.TabItem
}

// OpenSettings opens the settings window of the VM, or brings it forward.
func (m *Manager) OpenSettings(id string) {
	if s := m.settings[id]; s != nil {
		s.win.RequestFocus()
		return
	}
	vm, ok := m.vm(id)
	if !ok {
		return
	}
	s := newSettingsWindow(m, vm)
	m.settings[id] = s
	s.win.Show()
}

func newSettingsWindow(m *Manager, vm library.VM) *settingsWindow {
	s := &settingsWindow{m: m, vm: vm, base: vm.Version, errs: map[string]*widget.Label{}}
	s.win = m.app.NewWindow(vm.Name + " — Settings")
	s.win.SetOnClosed(func() {
		if m.settings[vm.ID] == s {
			delete(m.settings, vm.ID)
		}
	})

	s.running = widget.NewLabel(NotWhileRunning)
	s.running.Wrapping = fyne.TextWrapWord
	s.running.Importance = widget.WarningImportance
	s.name = widget.NewEntry()
	s.cpus = widget.NewEntry()
	s.memory = widget.NewEntry()
	s.kernel = widget.NewEntry()
	s.initrd = widget.NewEntry()
	s.initrd.SetPlaceHolder("none")
	s.cmdline = widget.NewEntry()
	s.boot = widget.NewRadioGroup([]string{bootFirmware, bootDirect}, nil)
	s.boot.Required = true
	var orderLabels []string
	for _, o := range bootOrders {
		orderLabels = append(orderLabels, o.label)
	}
	s.bootOrder = widget.NewSelect(orderLabels, nil)
	s.customRes = widget.NewEntry()
	s.customRes.SetPlaceHolder("WIDTHxHEIGHT")
	s.resolution = widget.NewSelect(resolutions, func(choice string) {
		if choice == resolutionCustom {
			s.customRes.Show()
		} else {
			s.customRes.Hide()
		}
	})

	s.isoLabel = widget.NewLabel("")
	s.isoLabel.Wrapping = fyne.TextWrapWord
	s.insertISO = widget.NewButton("Insert ISO…", s.chooseISO)
	s.ejectISO = widget.NewButton("Eject", s.eject)
	s.disks = container.NewVBox()
	s.addSize = widget.NewEntry()
	s.addSize.SetText("20")
	s.addDisk = widget.NewButton("Add empty disk", s.createDisk)
	s.attachRO = widget.NewCheck("Read-only", nil)
	s.attachDisk = widget.NewButton("Attach image…", s.chooseImage)
	s.status = widget.NewLabel("")
	s.status.Wrapping = fyne.TextWrapWord
	s.save = widget.NewButton("Save", s.submit)
	s.save.Importance = widget.HighImportance
	s.closeBtn = widget.NewButton("Close", func() { s.win.Close() })

	s.restricted = []fyne.Disableable{s.cpus, s.memory, s.boot, s.kernel, s.initrd, s.cmdline, s.bootOrder,
		s.resolution, s.customRes, s.addSize, s.addDisk, s.attachRO, s.attachDisk}

	form := func(rows ...fyne.CanvasObject) *fyne.Container { return container.New(layout.NewFormLayout(), rows...) }
	general := form(
		widget.NewLabel("Name"), s.withError(fieldName, s.name),
		widget.NewLabel("CPUs"), s.withError(fieldCPUs, s.cpus),
		widget.NewLabel("Memory (MiB)"), s.withError(fieldMemory, s.memory))
	boot := form(
		widget.NewLabel("Boot"), s.boot,
		widget.NewLabel("Kernel"), s.withError(fieldKernel, s.kernel),
		widget.NewLabel("Initrd"), s.withError(fieldInitrd, s.initrd),
		widget.NewLabel("Command line"), s.withError("cmdline", s.cmdline),
		widget.NewLabel("Boot order"), s.withError("boot order", s.bootOrder))
	disp := form(widget.NewLabel("Resolution"),
		s.withError("screen", container.NewVBox(s.resolution, s.customRes)))
	media := form(widget.NewLabel("ISO"), container.NewVBox(s.isoLabel, container.NewHBox(s.insertISO, s.ejectISO)))
	disks := container.NewVBox(s.disks,
		container.NewHBox(widget.NewLabel("Size (GiB)"), container.NewGridWrap(fyne.NewSize(80, s.addSize.MinSize().Height), s.addSize), s.addDisk),
		container.NewHBox(s.attachDisk, s.attachRO))
	s.sharing = newSharingPage(s)
	s.sharingTab = container.NewTabItem("Sharing", s.sharing.content())
	s.tabs = container.NewAppTabs(
		container.NewTabItem("General", general),
		container.NewTabItem("Boot", boot),
		container.NewTabItem("Display", disp),
		container.NewTabItem("Storage", container.NewVBox(media, widget.NewSeparator(), widget.NewLabel("Disks"), disks)),
		s.sharingTab,
	)
	s.win.SetOnDropped(func(_ fyne.Position, uris []fyne.URI) { s.sharing.dropped(uris) })
	buttons := container.NewHBox(layout.NewSpacer(), s.closeBtn, s.save)
	s.win.SetContent(container.NewPadded(container.NewBorder(s.running, container.NewVBox(s.status, buttons), nil, nil, s.tabs)))
	s.win.Resize(fyne.NewSize(620, 520))
	s.fill(vm)
	return s
}

func (s *settingsWindow) withError(field string, obj fyne.CanvasObject) fyne.CanvasObject {
	l := widget.NewLabel("")
	l.Importance = widget.DangerImportance
	l.Wrapping = fyne.TextWrapWord
	l.Hide()
	s.errs[field] = l
	return container.NewVBox(obj, l)
}

func (s *settingsWindow) setError(field, problem string) {
	l := s.errs[field]
	if l == nil {
		s.setStatus(problem, problem != "")
		return
	}
	l.SetText(problem)
	if problem == "" {
		l.Hide()
	} else {
		l.Show()
	}
}

func (s *settingsWindow) fieldError(field string) string {
	if l := s.errs[field]; l != nil && !l.Hidden {
		return l.Text
	}
	return ""
}

func (s *settingsWindow) setStatus(text string, isError bool) {
	s.status.SetText(text)
	if isError {
		s.status.Importance = widget.DangerImportance
	} else {
		s.status.Importance = widget.MediumImportance
	}
	s.status.Refresh()
}

// fill sets every field from vm.
func (s *settingsWindow) fill(vm library.VM) {
	s.vm, s.base = vm, vm.Version
	s.name.SetText(vm.Name)
	s.cpus.SetText(strconv.Itoa(vm.CPUs))
	s.memory.SetText(strconv.Itoa(vm.MemoryMiB))
	if vm.Boot == library.BootDirect {
		s.boot.SetSelected(bootDirect)
	} else {
		s.boot.SetSelected(bootFirmware)
	}
	s.kernel.SetText(vm.Kernel)
	s.initrd.SetText(vm.Initrd)
	s.cmdline.SetText(vm.Cmdline)
	s.bootOrder.SetSelected(bootOrders[0].label)
	for _, o := range bootOrders {
		if o.value == vm.BootOrder {
			s.bootOrder.SetSelected(o.label)
		}
	}
	res := resolutionHost
	if vm.ScreenWidth != 0 {
		res = fmt.Sprintf("%dx%d", vm.ScreenWidth, vm.ScreenHeight)
		s.customRes.SetText(res)
		found := false
		for _, r := range resolutions {
			found = found || r == res
		}
		if !found {
			res = resolutionCustom
		}
	}
	s.resolution.SetSelected(res)
	if res != resolutionCustom {
		s.customRes.Hide()
	}
	s.showMedia(vm)
	s.sharing.show(vm)
	s.applyState()
}

// vmChanged takes a newly read VM: its state, ISO and disks show at once; the edited fields stay as they are.
func (s *settingsWindow) vmChanged(vm library.VM) {
	s.vm = vm
	s.win.SetTitle(vm.Name + " — Settings")
	s.showMedia(vm)
	s.sharing.show(vm)
	s.applyState()
}

func (s *settingsWindow) vmDeleted() {
	s.setStatus("This VM was deleted.", true)
	s.save.Disable()
	for _, d := range s.restricted {
		d.Disable()
	}
	s.insertISO.Disable()
	s.ejectISO.Disable()
	s.sharing.disable()
}

// applyState enables what the VM's state allows.
func (s *settingsWindow) applyState() {
	active := s.vm.State.Active()
	if active {
		s.running.Show()
	} else {
		s.running.Hide()
	}
	for _, d := range s.restricted {
		if active || s.busy {
			d.Disable()
		} else {
			d.Enable()
		}
	}
	for _, o := range s.disks.Objects {
		if r, ok := o.(*fyne.Container); ok {
			for _, c := range r.Objects {
				if d, ok := c.(fyne.Disableable); ok {
					if active || s.busy {
						d.Disable()
					} else {
						d.Enable()
					}
				}
			}
		}
	}
	if s.busy {
		s.save.Disable()
		s.insertISO.Disable()
		s.ejectISO.Disable()
		return
	}
	s.save.Enable()
	s.insertISO.Enable()
	if s.vm.ISO == "" {
		s.ejectISO.Disable()
	} else {
		s.ejectISO.Enable()
	}
}

// showMedia lists the VM's ISO and disks.
func (s *settingsWindow) showMedia(vm library.VM) {
	if vm.ISO == "" {
		s.isoLabel.SetText("No ISO inserted")
	} else {
		s.isoLabel.SetText(vm.ISO)
	}
	s.disks.RemoveAll()
	if len(vm.Disks) == 0 {
		s.disks.Add(widget.NewLabel("No disks"))
	}
	for _, d := range vm.Disks {
		d := d
		label := widget.NewLabel(fmt.Sprintf("%d. %s (%s)", d.Position+1, filepath.Base(d.Path), formatBytes(d.SizeBytes)))
		label.Truncation = fyne.TextTruncateEllipsis
		ro := widget.NewCheck("Read-only", nil)
		ro.SetChecked(d.ReadOnly)
		ro.OnChanged = func(on bool) { s.setReadOnly(d, on) }
		remove := widget.NewButton("Remove", func() { s.askRemove(d) })
		s.disks.Add(container.NewBorder(nil, nil, nil, container.NewHBox(ro, remove), label))
	}
}

// run does a storage action off the UI goroutine, then shows the VM as it is afterwards.
func (s *settingsWindow) run(what string, work func(ctx context.Context, lib *library.Library) error, done string) {
	s.busy = true
	s.applyState()
	s.setStatus(what, false)
	id := s.vm.ID
	background(s.m, func(ctx context.Context) (library.VM, error) {
		if err := work(ctx, s.m.lib); err != nil {
			vm, _ := s.m.lib.GetVM(ctx, id)
			return vm, err
		}
		return s.m.lib.GetVM(ctx, id)
	}, func(vm library.VM, err error) {
		s.busy = false
		if vm.ID != "" {
			// The action's own change is not a conflict for the edited fields.
			if vm.Version > s.vm.Version && s.base == s.vm.Version {
				s.base = vm.Version
			}
			s.vmChanged(vm)
		} else {
			s.applyState()
		}
		s.m.requestRefresh()
		if err != nil {
			s.setStatus(errorText(err), true)
			return
		}
		s.setStatus(done, false)
	})
}

func (s *settingsWindow) chooseISO() {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		path := r.URI().Path()
		go r.Close()
		s.InsertISO(path)
	}, s.win)
	d.SetFilter(storage.NewExtensionFileFilter([]string{".iso", ".ISO"}))
	d.Show()
}

// InsertISO reads the ISO at path and puts it in the VM's CD-ROM drive.
func (s *settingsWindow) InsertISO(path string) {
	id := s.vm.ID
	s.run("Reading "+filepath.Base(path)+"…", func(ctx context.Context, lib *library.Library) error {
		if _, err := iso.Inspect(path); err != nil {
			return err
		}
		if err := lib.SetISO(ctx, id, path); err != nil {
			return err
		}
		return changeRunningMedia(ctx, lib, id, path)
	}, "Inserted "+filepath.Base(path)+".")
}

func (s *settingsWindow) eject() {
	id := s.vm.ID
	s.run("Ejecting…", func(ctx context.Context, lib *library.Library) error {
		if err := lib.EjectISO(ctx, id); err != nil {
			return err
		}
		return changeRunningMedia(ctx, lib, id, "")
	}, "Ejected the ISO.")
}

// changeRunningMedia makes a running VM's drive follow the library's ISO at once.
func changeRunningMedia(ctx context.Context, lib *library.Library, id, path string) error {
	vm, err := lib.GetVM(ctx, id)
	if err != nil {
		return err
	}
	if err := vmctl.ChangeMedia(vm, path); err != nil {
		return fmt.Errorf("saved, but the running VM's drive did not follow: %w", err)
	}
	return nil
}

func (s *settingsWindow) createDisk() {
	gib, err := strconv.Atoi(strings.TrimSpace(s.addSize.Text))
	if err != nil || gib < 1 || int64(gib) > library.MaxDiskBytes>>30 {
		s.setStatus(fmt.Sprintf("Disk size: enter a whole number of GiB between 1 and %d.", library.MaxDiskBytes>>30), true)
		return
	}
	id := s.vm.ID
	s.run(fmt.Sprintf("Creating a %d GiB disk…", gib), func(ctx context.Context, lib *library.Library) error {
		_, err := lib.CreateDisk(ctx, id, int64(gib)<<30)
		return err
	}, fmt.Sprintf("Added a %d GiB disk.", gib))
}

func (s *settingsWindow) chooseImage() {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		path := r.URI().Path()
		go r.Close()
		s.AttachImage(path, s.attachRO.Checked)
	}, s.win)
	d.Show()
}

// AttachImage attaches the existing raw image at path.
func (s *settingsWindow) AttachImage(path string, readOnly bool) {
	id := s.vm.ID
	s.run("Attaching "+filepath.Base(path)+"…", func(ctx context.Context, lib *library.Library) error {
		_, err := lib.AttachDisk(ctx, id, path, readOnly)
		return err
	}, "Attached "+filepath.Base(path)+".")
}

func (s *settingsWindow) setReadOnly(d library.Disk, on bool) {
	if on == d.ReadOnly {
		return
	}
	id := s.vm.ID
	mode := "writable"
	if on {
		mode = "read-only"
	}
	s.run("Changing "+filepath.Base(d.Path)+"…", func(ctx context.Context, lib *library.Library) error {
		return lib.SetDiskReadOnly(ctx, id, d.ID, on)
	}, filepath.Base(d.Path)+" is "+mode+".")
}

// askRemove asks before taking a disk off the VM, offering to delete an image Paddock made.
func (s *settingsWindow) askRemove(d library.Disk) {
	own := filepath.Dir(d.Path) == s.m.lib.VMDir(s.vm.ID)
	msg := fmt.Sprintf("Remove %s from %s? The image file stays where it is.", filepath.Base(d.Path), s.vm.Name)
	del := widget.NewCheck("Also delete the image file", nil)
	if !own {
		del.Disable()
	}
	p := &confirmPrompt{message: msg, keep: del}
	text := widget.NewLabel(msg)
	text.Wrapping = fyne.TextWrapWord
	p.ok = widget.NewButton("Remove", nil)
	p.ok.Importance = widget.DangerImportance
	p.cancel = widget.NewButton("Cancel", nil)
	p.dlg = dialog.NewCustomWithoutButtons("Remove disk", container.NewBorder(nil,
		container.NewHBox(layout.NewSpacer(), p.cancel, p.ok), nil, nil, container.NewVBox(text, del)), s.win)
	id := s.vm.ID
	p.ok.OnTapped = func() {
		p.dlg.Hide()
		s.prompt = nil
		deleteFile := del.Checked
		s.run("Removing "+filepath.Base(d.Path)+"…", func(ctx context.Context, lib *library.Library) error {
			if deleteFile {
				return lib.DeleteDisk(ctx, id, d.ID)
			}
			return lib.DetachDisk(ctx, id, d.ID)
		}, "Removed "+filepath.Base(d.Path)+".")
	}
	p.cancel.OnTapped = func() {
		p.dlg.Hide()
		s.prompt = nil
	}
	s.prompt = p
	p.dlg.Resize(fyne.NewSize(440, 180))
	p.dlg.Show()
}

// update is what Save would change, and whether any of it needs the VM stopped.
func (s *settingsWindow) update() (u library.VMUpdate, stoppedOnly []string, ok bool) {
	ok = true
	fail := func(field, problem string) {
		s.setError(field, problem)
		ok = false
	}
	for f := range s.errs {
		s.setError(f, "")
	}
	vm := s.vm
	if name := strings.TrimSpace(s.name.Text); name != vm.Name {
		if err := library.ValidateName(name); err != nil {
			fail(fieldName, problemText(err))
		}
		u.Name = &name
	}
	h := s.m.host
	if n, err := strconv.Atoi(strings.TrimSpace(s.cpus.Text)); err != nil {
		fail(fieldCPUs, "Enter a whole number.")
	} else if n != vm.CPUs {
		if n < 1 || n > h.MaxCPUs {
			fail(fieldCPUs, fmt.Sprintf("Must be between 1 and %d on this host.", h.MaxCPUs))
		}
		u.CPUs = &n
		stoppedOnly = append(stoppedOnly, fieldCPUs)
	}
	if n, err := strconv.Atoi(strings.TrimSpace(s.memory.Text)); err != nil {
		fail(fieldMemory, "Enter a whole number.")
	} else if n != vm.MemoryMiB {
		if n < library.MinMemoryMiB || n > h.MaxMemoryMiB {
			fail(fieldMemory, fmt.Sprintf("Must be between %d and %d MiB (this host has %s).",
				library.MinMemoryMiB, h.MaxMemoryMiB, formatMemory(h.MaxMemoryMiB)))
		}
		u.MemoryMiB = &n
		stoppedOnly = append(stoppedOnly, fieldMemory)
	}
	boot := library.BootFirmware
	if s.boot.Selected == bootDirect {
		boot = library.BootDirect
	}
	if boot != vm.Boot {
		u.Boot = &boot
		stoppedOnly = append(stoppedOnly, "boot")
	}
	path := func(field string, e *widget.Entry, old string, dst **string) {
		p := strings.TrimSpace(e.Text)
		if p != "" {
			abs, err := filepath.Abs(p)
			if err != nil {
				fail(field, err.Error())
				return
			}
			p = abs
		}
		if p != old {
			*dst = &p
			stoppedOnly = append(stoppedOnly, field)
		}
	}
	path(fieldKernel, s.kernel, vm.Kernel, &u.Kernel)
	path(fieldInitrd, s.initrd, vm.Initrd, &u.Initrd)
	if boot == library.BootDirect && strings.TrimSpace(s.kernel.Text) == "" {
		fail(fieldKernel, "Choose the Linux kernel to boot.")
	}
	if c := s.cmdline.Text; c != vm.Cmdline {
		u.Cmdline = &c
		stoppedOnly = append(stoppedOnly, "cmdline")
	}
	for _, o := range bootOrders {
		if o.label == s.bootOrder.Selected && o.value != vm.BootOrder {
			v := o.value
			u.BootOrder = &v
			stoppedOnly = append(stoppedOnly, "boot order")
		}
	}
	w, hgt := 0, 0
	switch s.resolution.Selected {
	case resolutionHost, "":
	case resolutionCustom:
		var err error
		if w, hgt, err = parseResolution(s.customRes.Text); err != nil {
			fail("screen", capitalize(err.Error())+".")
		}
	default:
		w, hgt, _ = parseResolution(s.resolution.Selected)
	}
	if w != vm.ScreenWidth || hgt != vm.ScreenHeight {
		u.ScreenWidth, u.ScreenHeight = &w, &hgt
		stoppedOnly = append(stoppedOnly, "screen")
	}
	u.ExpectVersion = s.base
	return u, stoppedOnly, ok
}

// parseResolution reads "WIDTHxHEIGHT".
func parseResolution(s string) (w, h int, err error) {
	ws, hs, found := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "x")
	w, errW := strconv.Atoi(strings.TrimSpace(ws))
	h, errH := strconv.Atoi(strings.TrimSpace(hs))
	if !found || errW != nil || errH != nil {
		return 0, 0, errors.New("enter the size as WIDTHxHEIGHT, such as 1280x800")
	}
	if w < library.MinScreenW || h < library.MinScreenH || w > library.MaxScreenSide || h > library.MaxScreenSide {
		return 0, 0, fmt.Errorf("must be between %dx%d and %dx%d", library.MinScreenW, library.MinScreenH,
			library.MaxScreenSide, library.MaxScreenSide)
	}
	return w, h, nil
}

// submit saves the edited fields, refusing what a running VM cannot change.
func (s *settingsWindow) submit() {
	if s.busy {
		return
	}
	u, stoppedOnly, ok := s.update()
	if !ok {
		s.setStatus("Nothing was saved: correct the fields marked.", true)
		return
	}
	if s.vm.State.Active() && len(stoppedOnly) > 0 {
		for _, f := range stoppedOnly {
			s.setError(f, "Cannot change while the VM is running.")
		}
		s.setStatus("Nothing was saved. "+NotWhileRunning, true)
		return
	}
	id := s.vm.ID
	s.busy = true
	s.applyState()
	s.setStatus("Saving…", false)
	background(s.m, func(ctx context.Context) (library.VM, error) {
		return s.m.lib.UpdateVM(ctx, id, u)
	}, func(vm library.VM, err error) {
		s.busy = false
		s.applyState()
		s.m.requestRefresh()
		var ve *library.ValidationError
		switch {
		case errors.Is(err, library.ErrConflict):
			s.reload("The VM was changed elsewhere meanwhile; its current settings are shown. Make your change again.")
		case errors.Is(err, library.ErrNameTaken):
			s.setError(fieldName, "A VM with that name already exists.")
			s.setStatus("Nothing was saved.", true)
		case errors.As(err, &ve):
			if s.errs[ve.Field] != nil {
				s.setError(ve.Field, capitalize(ve.Problem)+".")
				s.setStatus("Nothing was saved.", true)
			} else {
				s.setStatus("Nothing was saved: "+errorText(err), true)
			}
		case err != nil:
			s.setStatus("Nothing was saved: "+err.Error(), true)
		default:
			s.fill(vm)
			s.win.SetTitle(vm.Name + " — Settings")
			s.setStatus("Saved.", false)
		}
	})
}

// reload shows the VM as the library has it now, with why.
func (s *settingsWindow) reload(why string) {
	id := s.vm.ID
	background(s.m, func(ctx context.Context) (library.VM, error) {
		return s.m.lib.GetVM(ctx, id)
	}, func(vm library.VM, err error) {
		if err != nil {
			s.setStatus(errorText(err), true)
			return
		}
		s.fill(vm)
		s.setStatus(why, true)
	})
}
