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

// The wizard's choices of what the VM boots.
const (
	SourceISO    = "Installer ISO"
	SourceKernel = "Linux kernel (direct boot)"
)

// DirectBootOS is the OS label of a VM that boots a kernel directly.
const DirectBootOS = "Linux (direct boot)"

// wizard is the New VM window: name, what it boots (an installer ISO, or a kernel and initrd), CPUs, memory and
// disk size, with defaults sized from the host and the ISO.
type wizard struct {
	m   *Manager
	win fyne.Window

	name    *widget.Entry
	source  *widget.RadioGroup
	isoPath *widget.Entry
	isoInfo *widget.Label // what the ISO is, or why it cannot be used
	kernel  *widget.Entry
	initrd  *widget.Entry
	cmdline *widget.Entry
	cpus    *widget.Entry
	memory  *widget.Entry // MiB
	disk    *widget.Entry // GiB; 0 for none

	isoBox, kernelBox *fyne.Container
	errs              map[string]*widget.Label // field -> its error text
	general           *widget.Label
	progress          *widget.ProgressBarInfinite
	create, start     *widget.Button
	cancel            *widget.Button

	// info is what the ISO in isoPath is (nil: not read yet or unusable); infoPath is the path it describes.
	info     *iso.Info
	infoPath string
	isoErr   error
	seq      int  // numbers ISO readings, so a stale answer is dropped
	reading  bool // an ISO reading is under way
	creating bool
	// touched lists the fields the user edited: a newly read ISO re-sizes only the others.
	touched   map[string]bool
	filling   bool // the wizard itself is setting fields
	autoName  string
	sizedFrom string // the OS label the sizing was taken from
}

// Field names, as the library's ValidationError names them where it has them.
const (
	fieldName    = "name"
	fieldISO     = "iso"
	fieldKernel  = "kernel"
	fieldInitrd  = "initrd"
	fieldCPUs    = "cpus"
	fieldMemory  = "memory"
	fieldDisk    = "disk size"
	fieldGeneral = ""
)

// OpenWizard opens the New VM window, with the ISO at isoPath already chosen when it is not empty (info is what
// it is, when already read). With the window already open, it brings it forward with that ISO.
func (m *Manager) OpenWizard(pre *Prefill) {
	if m.wizard != nil {
		if pre != nil {
			m.wizard.setISO(pre.ISOPath, pre.Info)
		}
		m.wizard.win.RequestFocus()
		return
	}
	w := newWizard(m)
	m.wizard = w
	if pre != nil {
		w.setISO(pre.ISOPath, pre.Info)
	}
	w.win.Show()
	w.win.Canvas().Focus(w.name)
}

// Prefill is what the wizard starts with when an ISO was dropped.
type Prefill struct {
	ISOPath string
	Info    *iso.Info // nil: the wizard reads it
}

func newWizard(m *Manager) *wizard {
	w := &wizard{m: m, errs: map[string]*widget.Label{}, touched: map[string]bool{}}
	w.win = m.app.NewWindow("New VM")
	w.win.SetOnClosed(func() {
		if m.wizard == w {
			m.wizard = nil
		}
	})

	w.name = w.entry(fieldName, "")
	w.isoPath = w.entry(fieldISO, "/path/to/installer.iso")
	w.isoPath.OnChanged = func(string) {
		if !w.filling {
			w.readISO(strings.TrimSpace(w.isoPath.Text), nil)
		}
	}
	w.isoInfo = widget.NewLabel("")
	w.isoInfo.Wrapping = fyne.TextWrapWord
	w.kernel = w.entry(fieldKernel, "/path/to/vmlinuz")
	w.initrd = w.entry(fieldInitrd, "optional")
	w.cmdline = widget.NewEntry()
	w.cmdline.SetText("console=ttyS0")
	w.cpus = w.entry(fieldCPUs, "")
	w.memory = w.entry(fieldMemory, "")
	w.disk = w.entry(fieldDisk, "")
	w.general = widget.NewLabel("")
	w.general.Wrapping = fyne.TextWrapWord
	w.general.Importance = widget.DangerImportance
	w.general.Hide()
	w.progress = widget.NewProgressBarInfinite()
	w.progress.Stop()
	w.progress.Hide()

	isoFilter := storage.NewExtensionFileFilter([]string{".iso", ".ISO", ".img"})
	w.isoBox = container.New(layout.NewFormLayout(),
		widget.NewLabel("ISO"), w.withError(fieldISO, container.NewBorder(nil, nil, nil,
			w.browse(w.isoPath, isoFilter), w.isoPath)),
		layout.NewSpacer(), w.isoInfo)
	w.kernelBox = container.New(layout.NewFormLayout(),
		widget.NewLabel("Kernel"), w.withError(fieldKernel, container.NewBorder(nil, nil, nil, w.browse(w.kernel, nil), w.kernel)),
		widget.NewLabel("Initrd"), w.withError(fieldInitrd, container.NewBorder(nil, nil, nil, w.browse(w.initrd, nil), w.initrd)),
		widget.NewLabel("Command line"), w.cmdline)
	w.source = widget.NewRadioGroup([]string{SourceISO, SourceKernel}, func(choice string) {
		w.showSource(choice)
	})
	w.source.Horizontal = true
	w.source.Required = true

	h := m.host
	w.cpus.SetPlaceHolder(fmt.Sprintf("1 to %d", h.MaxCPUs))
	w.memory.SetPlaceHolder(fmt.Sprintf("%d to %d", library.MinMemoryMiB, h.MaxMemoryMiB))
	sizing := container.New(layout.NewFormLayout(),
		widget.NewLabel("CPUs"), w.withError(fieldCPUs, w.cpus),
		widget.NewLabel("Memory (MiB)"), w.withError(fieldMemory, w.memory),
		widget.NewLabel("Disk (GiB)"), w.withError(fieldDisk, w.disk))
	top := container.New(layout.NewFormLayout(),
		widget.NewLabel("Name"), w.withError(fieldName, w.name),
		widget.NewLabel("Boots"), w.source)

	w.cancel = widget.NewButton("Cancel", func() { w.win.Close() })
	w.create = widget.NewButton("Create", func() { w.submit(false) })
	w.start = widget.NewButton("Create and start", func() { w.submit(true) })
	w.start.Importance = widget.HighImportance
	buttons := container.NewHBox(layout.NewSpacer(), w.cancel, w.create, w.start)

	content := container.NewVBox(top, widget.NewSeparator(), w.isoBox, w.kernelBox, widget.NewSeparator(), sizing,
		w.general, w.progress)
	w.win.SetContent(container.NewPadded(container.NewBorder(nil, buttons, nil, nil, container.NewVScroll(content))))
	w.win.Resize(fyne.NewSize(620, 560))

	w.applySizing(nil)
	w.setName(suggestName("New VM", m.nameTaken))
	w.source.SetSelected(SourceISO)
	return w
}

// entry makes an entry that records it was edited by the user, and clears its error when it changes.
func (w *wizard) entry(field, placeholder string) *widget.Entry {
	e := widget.NewEntry()
	e.SetPlaceHolder(placeholder)
	e.OnChanged = func(string) {
		if !w.filling {
			w.touched[field] = true
			w.setError(field, "")
		}
	}
	return e
}

// withError puts the field's error line under obj.
func (w *wizard) withError(field string, obj fyne.CanvasObject) fyne.CanvasObject {
	l := widget.NewLabel("")
	l.Importance = widget.DangerImportance
	l.Wrapping = fyne.TextWrapWord
	l.Hide()
	w.errs[field] = l
	return container.NewVBox(obj, l)
}

func (w *wizard) browse(target *widget.Entry, filter storage.FileFilter) *widget.Button {
	return widget.NewButton("Choose…", func() {
		d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
			if err != nil || r == nil {
				return
			}
			path := r.URI().Path()
			go r.Close()
			target.SetText(path)
		}, w.win)
		if filter != nil {
			d.SetFilter(filter)
		}
		d.Show()
	})
}

// setError shows problem under field ("" hides it); fieldGeneral is the line above the buttons.
func (w *wizard) setError(field, problem string) {
	l := w.errs[field]
	if field == fieldGeneral || l == nil {
		l = w.general
	}
	l.SetText(problem)
	if problem == "" {
		l.Hide()
	} else {
		l.Show()
	}
}

// fieldError is the error text shown under field ("" when none).
func (w *wizard) fieldError(field string) string {
	l := w.errs[field]
	if field == fieldGeneral || l == nil {
		l = w.general
	}
	if l.Hidden {
		return ""
	}
	return l.Text
}

func (w *wizard) set(e *widget.Entry, text string) {
	w.filling = true
	e.SetText(text)
	w.filling = false
}

func (w *wizard) setName(name string) {
	w.autoName = name
	w.set(w.name, name)
}

func (w *wizard) showSource(choice string) {
	if choice == SourceKernel {
		w.isoBox.Hide()
		w.kernelBox.Show()
	} else {
		w.kernelBox.Hide()
		w.isoBox.Show()
	}
	w.updateButtons()
}

// applySizing fills the sizing fields the user has not edited with the defaults for the system on info.
func (w *wizard) applySizing(info *iso.Info) {
	s := vmctl.DefaultSizing(info, w.m.host)
	if !w.touched[fieldCPUs] {
		w.set(w.cpus, strconv.Itoa(s.CPUs))
	}
	if !w.touched[fieldMemory] {
		w.set(w.memory, strconv.Itoa(s.MemoryMiB))
	}
	if !w.touched[fieldDisk] {
		w.set(w.disk, strconv.Itoa(s.DiskGiB))
	}
}

// setISO chooses the ISO at path; info is what it is when already read.
func (w *wizard) setISO(path string, info *iso.Info) {
	w.source.SetSelected(SourceISO)
	w.filling = true
	w.isoPath.SetText(path)
	w.filling = false
	w.readISO(path, info)
}

// readISO finds out what the ISO at path is, off the UI goroutine unless info already says.
func (w *wizard) readISO(path string, info *iso.Info) {
	w.seq++
	seq := w.seq
	w.info, w.infoPath, w.isoErr = nil, "", nil
	w.setError(fieldISO, "")
	if path == "" {
		w.reading = false
		w.isoInfo.SetText("")
		w.updateButtons()
		return
	}
	if info != nil {
		w.isoRead(path, *info, nil)
		return
	}
	w.reading = true
	w.isoInfo.SetText("Reading " + filepath.Base(path) + "…")
	w.progress.Show()
	w.progress.Start()
	w.updateButtons()
	background(w.m, func(context.Context) (iso.Info, error) {
		return iso.Inspect(path)
	}, func(info iso.Info, err error) {
		if seq != w.seq {
			return
		}
		w.isoRead(path, info, err)
	})
}

// isoRead shows what the ISO is and sizes the VM for it.
func (w *wizard) isoRead(path string, info iso.Info, err error) {
	w.reading = false
	w.progress.Stop()
	w.progress.Hide()
	defer w.updateButtons()
	if err != nil {
		w.isoErr = err
		w.isoInfo.SetText("")
		w.setError(fieldISO, errorText(err))
		return
	}
	w.info, w.infoPath = &info, path
	if !info.Bootable {
		w.isoInfo.SetText("")
		w.setError(fieldISO, "Not a bootable ISO: "+orUnknown(info.Reason)+".")
		return
	}
	w.isoInfo.SetText("Detected: " + info.Label)
	if w.sizedFrom != info.Label {
		w.sizedFrom = info.Label
		w.applySizing(&info)
	}
	if !w.touched[fieldName] || strings.TrimSpace(w.name.Text) == "" {
		w.setName(suggestName(info.Label, w.m.nameTaken))
	}
}

// detected is what the wizard says the chosen ISO is ("" while unknown).
func (w *wizard) detected() string { return w.isoInfo.Text }

func (w *wizard) updateButtons() {
	if w.creating || w.reading && w.source.Selected == SourceISO {
		w.create.Disable()
		w.start.Disable()
		return
	}
	w.create.Enable()
	w.start.Enable()
}

// validate checks every field and shows what is wrong; it returns the spec and disk size when all is well.
func (w *wizard) validate() (spec library.VMSpec, diskGiB int, ok bool) {
	ok = true
	fail := func(field, problem string) {
		if ok || w.fieldError(field) == "" {
			w.setError(field, problem)
		}
		ok = false
	}
	for f := range w.errs {
		w.setError(f, "")
	}
	w.setError(fieldGeneral, "")

	spec.Name = strings.TrimSpace(w.name.Text)
	if err := library.ValidateName(spec.Name); err != nil {
		fail(fieldName, problemText(err))
	} else if w.m.nameTaken(spec.Name) {
		fail(fieldName, "A VM with that name already exists.")
	}

	h := w.m.host
	spec.CPUs = w.number(fieldCPUs, w.cpus, 1, h.MaxCPUs, fmt.Sprintf("Must be between 1 and %d on this host.", h.MaxCPUs), fail)
	spec.MemoryMiB = w.number(fieldMemory, w.memory, library.MinMemoryMiB, h.MaxMemoryMiB,
		fmt.Sprintf("Must be between %d and %d MiB (this host has %s).", library.MinMemoryMiB, h.MaxMemoryMiB,
			formatMemory(h.MaxMemoryMiB)), fail)
	maxDisk := int(library.MaxDiskBytes >> 30)
	diskGiB = w.number(fieldDisk, w.disk, 0, maxDisk, fmt.Sprintf("Must be between 0 (no disk) and %d GiB.", maxDisk), fail)

	if w.source.Selected == SourceKernel {
		spec.Boot = library.BootDirect
		spec.OS = DirectBootOS
		spec.Cmdline = w.cmdline.Text
		var err error
		if k := strings.TrimSpace(w.kernel.Text); k == "" {
			fail(fieldKernel, "Choose the Linux kernel to boot.")
		} else if spec.Kernel, err = filepath.Abs(k); err != nil {
			fail(fieldKernel, err.Error())
		}
		if i := strings.TrimSpace(w.initrd.Text); i != "" {
			if spec.Initrd, err = filepath.Abs(i); err != nil {
				fail(fieldInitrd, err.Error())
			}
		}
		return spec, diskGiB, ok
	}

	spec.Boot = library.BootFirmware
	path := strings.TrimSpace(w.isoPath.Text)
	switch {
	case path == "":
		fail(fieldISO, "Choose an installer ISO, or boot a Linux kernel directly.")
	case w.isoErr != nil:
		fail(fieldISO, errorText(w.isoErr))
	case w.info == nil || w.infoPath != path:
		fail(fieldISO, "The ISO has not been read yet.")
	case !w.info.Bootable:
		fail(fieldISO, "Not a bootable ISO: "+orUnknown(w.info.Reason)+".")
	default:
		abs, err := filepath.Abs(path)
		if err != nil {
			fail(fieldISO, err.Error())
		}
		spec.ISO, spec.OS = abs, w.info.Label
	}
	return spec, diskGiB, ok
}

// number parses a whole number in lo..hi from e, or reports the problem under field.
func (w *wizard) number(field string, e *widget.Entry, lo, hi int, bounds string, fail func(string, string)) int {
	n, err := strconv.Atoi(strings.TrimSpace(e.Text))
	if err != nil {
		fail(field, "Enter a whole number.")
		return 0
	}
	if n < lo || n > hi {
		fail(field, bounds)
	}
	return n
}

// problemText is a validation error's problem as a sentence under its field.
func problemText(err error) string {
	var ve *library.ValidationError
	if errors.As(err, &ve) {
		return capitalize(ve.Problem) + "."
	}
	return capitalize(err.Error())
}

// submit creates the VM (and its disk) off the UI goroutine, then starts it if asked.
func (w *wizard) submit(andStart bool) {
	if w.creating {
		return
	}
	spec, diskGiB, ok := w.validate()
	if !ok {
		return
	}
	w.creating = true
	w.updateButtons()
	w.progress.Show()
	w.progress.Start()
	w.setError(fieldGeneral, "")
	lib := w.m.lib
	type created struct {
		vm  library.VM
		vms []library.VM
		// listErr is a failure to re-read the list after the VM was made: the VM exists, the list shows it later.
		listErr error
	}
	background(w.m, func(ctx context.Context) (created, error) {
		vm, err := lib.CreateVM(ctx, spec)
		if err != nil {
			return created{}, err
		}
		if diskGiB > 0 {
			if _, err := lib.CreateDisk(ctx, vm.ID, int64(diskGiB)<<30); err != nil {
				// A VM without the disk asked for is not what the user chose: undo it whole.
				_ = lib.DeleteVM(ctx, vm.ID, false)
				return created{}, &library.ValidationError{Field: fieldDisk, Problem: err.Error()}
			}
		}
		vms, err := w.m.load(ctx)
		return created{vm: vm, vms: vms, listErr: err}, nil
	}, func(c created, err error) {
		w.creating = false
		w.progress.Stop()
		w.progress.Hide()
		w.updateButtons()
		if err != nil {
			w.showCreateError(err)
			return
		}
		m := w.m
		if c.listErr == nil {
			m.setVMs(c.vms, nil)
		}
		m.requestRefresh()
		w.win.Close()
		m.Select(c.vm.ID)
		m.showNotice(fmt.Sprintf("Created %s.", c.vm.Name), false)
		if andStart {
			if _, ok := m.vm(c.vm.ID); ok {
				m.Start(c.vm.ID)
			}
		}
	})
}

// showCreateError puts the library's refusal under the field it is about.
func (w *wizard) showCreateError(err error) {
	var ve *library.ValidationError
	switch {
	case errors.Is(err, library.ErrNameTaken):
		w.setError(fieldName, "A VM with that name already exists.")
	case errors.As(err, &ve):
		field := ve.Field
		switch field {
		case "screen", "boot", "boot order", "cmdline", "os":
			field = fieldGeneral
		}
		if field == fieldGeneral {
			w.setError(fieldGeneral, errorText(err))
		} else {
			w.setError(field, capitalize(ve.Problem)+".")
		}
	default:
		w.setError(fieldGeneral, "The VM was not created: "+err.Error())
	}
}
