package manager

import (
	"fmt"
	"image"
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"paddock/library"
	"paddock/ui/gui/sharingui"
)

// vmRow is one VM of the list: its screen's thumbnail (an icon when it is not running), name, OS, state, vCPUs
// and memory. A tap selects it, a double tap opens its display, a secondary tap shows its actions.
type vmRow struct {
	widget.BaseWidget
	m     *Manager
	index int
	id    string

	thumbBox    *fyne.Container
	thumb       *canvas.Image
	placeholder *fyne.Container
	name        *widget.Label
	os          *widget.Label
	state       *widget.Label
	specs       *widget.Label
	sharing     *sharingui.Badge
}

// thumbBackground is behind a thumbnail and behind the icon of a VM that is not running: a screen that is off.
var thumbBackground = color.NRGBA{R: 0x20, G: 0x22, B: 0x26, A: 0xff}

func newVMRow(m *Manager) *vmRow {
	r := &vmRow{m: m, index: -1}
	r.thumb = canvas.NewImageFromImage(nil)
	r.thumb.FillMode = canvas.ImageFillContain
	r.thumb.ScaleMode = canvas.ImageScaleSmooth
	bg := canvas.NewRectangle(thumbBackground)
	bg.SetMinSize(fyne.NewSize(ThumbWidth, ThumbHeight))
	icon := widget.NewIcon(theme.ComputerIcon())
	r.placeholder = container.NewCenter(icon)
	r.name = widget.NewLabel("")
	r.name.TextStyle = fyne.TextStyle{Bold: true}
	r.name.Truncation = fyne.TextTruncateEllipsis
	r.os = widget.NewLabel("")
	r.os.Truncation = fyne.TextTruncateEllipsis
	r.state = widget.NewLabel("")
	r.state.Truncation = fyne.TextTruncateEllipsis
	r.specs = widget.NewLabel("")
	r.sharing = sharingui.NewBadge()
	r.thumbBox = container.NewStack(bg, r.placeholder, r.thumb)
	r.ExtendBaseWidget(r)
	return r
}

func (r *vmRow) CreateRenderer() fyne.WidgetRenderer {
	text := container.NewVBox(container.NewBorder(nil, nil, nil, r.sharing, r.name), r.os, container.NewBorder(nil, nil, nil, r.specs, r.state))
	return widget.NewSimpleRenderer(container.NewBorder(nil, nil, container.NewPadded(r.thumbBox), nil,
		container.New(layout.NewCustomPaddedLayout(0, 0, 4, 0), text)))
}

// show fills the row with vm, its thumbnail (nil when there is none) and the action under way ("" when none).
func (r *vmRow) show(index int, vm library.VM, thumb image.Image, busy string) {
	r.index, r.id = index, vm.ID
	r.name.SetText(vm.Name)
	r.os.SetText(orText(vm.OS, "Unknown OS"))
	r.specs.SetText(fmt.Sprintf("%s · %s", plural(vm.CPUs, "vCPU"), formatMemory(vm.MemoryMiB)))
	text, importance := stateText(vm, busy)
	r.state.Importance = importance
	r.state.SetText(text)
	r.sharing.SetText(badgeText(vm))
	if thumb != nil && vm.State.Active() {
		r.thumb.Image = thumb
		r.thumb.Show()
		r.placeholder.Hide()
	} else {
		r.thumb.Image = nil
		r.thumb.Hide()
		r.placeholder.Show()
	}
	r.thumb.Refresh()
}

// stateText says what the VM is doing, as its row shows it.
func stateText(vm library.VM, busy string) (string, widget.Importance) {
	if busy != "" {
		return busy, widget.MediumImportance
	}
	switch vm.State {
	case library.StateRunning:
		return "Running", widget.SuccessImportance
	case library.StatePaused:
		return "Paused", widget.WarningImportance
	case library.StateStarting:
		return "Starting…", widget.MediumImportance
	case library.StateStopping:
		return "Shutting down…", widget.MediumImportance
	case library.StateCrashed:
		return "Crashed: " + orUnknown(vm.LastError), widget.DangerImportance
	}
	return "Stopped", widget.MediumImportance
}

func orText(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

func plural(n int, unit string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", unit)
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// Tapped selects the row's VM.
func (r *vmRow) Tapped(*fyne.PointEvent) {
	if r.index >= 0 {
		r.m.list.Select(r.index)
	}
}

// DoubleTapped opens the VM's display, as in every VM manager.
func (r *vmRow) DoubleTapped(*fyne.PointEvent) {
	if r.index >= 0 {
		r.m.list.Select(r.index)
		r.m.OpenDisplay(r.id)
	}
}

// TappedSecondary shows the VM's actions in a menu.
func (r *vmRow) TappedSecondary(ev *fyne.PointEvent) {
	if r.index < 0 {
		return
	}
	r.m.list.Select(r.index)
	vm, ok := r.m.vm(r.id)
	if !ok {
		return
	}
	item := func(label string, on bool, f func()) *fyne.MenuItem {
		it := fyne.NewMenuItem(label, f)
		it.Disabled = !on
		return it
	}
	active := vm.State.Active()
	id := vm.ID
	menu := fyne.NewMenu("",
		item("Start", !active, func() { r.m.Start(id) }),
		item("Shut down", active, func() { r.m.Stop(id, false) }),
		item("Power off", active, func() { r.m.Stop(id, true) }),
		item("Open display", active, func() { r.m.OpenDisplay(id) }),
		fyne.NewMenuItemSeparator(),
		item("Settings", true, func() { r.m.OpenSettings(id) }),
		item("Audit log", true, func() { r.m.OpenAudit(id) }),
		item("Delete", !active, func() { r.m.AskDelete(id) }),
	)
	widget.ShowPopUpMenuAtPosition(menu, r.m.win.Canvas(), ev.AbsolutePosition)
}

func layoutSpacer() fyne.CanvasObject { return layout.NewSpacer() }
