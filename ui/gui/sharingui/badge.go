package sharingui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"paddock/library"
)

// Badge shows, like a camera-on light, that a VM has a sharing channel open: an eye and what is shared. It hides
// itself while every channel is off. A tap runs OnTapped (the audit log, where the window offers one).
type Badge struct {
	widget.BaseWidget
	OnTapped func()

	icon  *widget.Icon
	label *widget.Label
}

// NewBadge makes a badge showing nothing (hidden).
func NewBadge() *Badge {
	b := &Badge{icon: widget.NewIcon(theme.NewWarningThemedResource(theme.VisibilityIcon())), label: widget.NewLabel("")}
	b.label.Importance = widget.WarningImportance
	b.label.TextStyle = fyne.TextStyle{Bold: true}
	b.ExtendBaseWidget(b)
	b.Hide()
	return b
}

// CreateRenderer implements fyne.Widget.
func (b *Badge) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.NewHBox(b.icon, b.label))
}

// SetText shows text ("" hides the badge).
func (b *Badge) SetText(text string) {
	b.label.SetText(text)
	if text == "" {
		b.Hide()
	} else {
		b.Show()
	}
}

// ShowVM shows what vm shares.
func (b *Badge) ShowVM(vm library.VM) { b.SetText(Summary(vm.Sharing, vm.Shares)) }

// Text is what the badge says; "" while it is hidden.
func (b *Badge) Text() string {
	if b.Hidden {
		return ""
	}
	return b.label.Text
}

// Tapped implements fyne.Tappable.
func (b *Badge) Tapped(*fyne.PointEvent) {
	if b.OnTapped != nil {
		b.OnTapped()
	}
}
