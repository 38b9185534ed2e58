package sharingui

import (
	"context"
	"fmt"
	"slices"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"paddock/library"
)

// AuditSource lists audit entries, newest first; *library.Library is one.
type AuditSource interface {
	ListAudit(ctx context.Context, q library.AuditQuery) ([]library.AuditEntry, error)
}

// AuditColumns are the audit table's column titles, in order.
var AuditColumns = []string{"Time", "VM", "Channel", "Direction", "Size", "SHA-256", "Rule", "Decision"}

var auditWidths = []float32{150, 120, 90, 110, 80, 120, 190, 80}

// auditPage is how many entries one read brings.
const auditPage = 200

// auditTimeout bounds one read of the log.
const auditTimeout = 15 * time.Second

// AuditView is the audit log as a table, newest first: every crossing and refusal of a sharing channel, of one VM
// or of all. Choosing a row shows it whole, with its full SHA-256 to copy. The log is read off the UI goroutine.
type AuditView struct {
	widget.BaseWidget

	src AuditSource
	vm  string // a VM's id or name, "" for all
	do  func(func())

	entries  []library.AuditEntry
	more     bool // the last read filled its page: older entries may exist
	loading  bool
	gen      int // counts reads, so a reload's answer replaces an older read's
	selected int

	table   *widget.Table
	status  *widget.Label
	detail  *widget.Label
	copyBtn *widget.Button
	reload  *widget.Button
	older   *widget.Button
}

// NewAuditView makes the view of vm's entries (vm "" for every VM) and starts reading them. do runs a function on
// the UI goroutine (nil means fyne.Do). Call it on the UI goroutine.
func NewAuditView(src AuditSource, vm string, do func(func())) *AuditView {
	if do == nil {
		do = fyne.Do
	}
	v := &AuditView{src: src, vm: vm, do: do, selected: -1}
	v.table = widget.NewTableWithHeaders(
		func() (int, int) { return len(v.entries), len(AuditColumns) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(id widget.TableCellID, o fyne.CanvasObject) {
			l := o.(*widget.Label)
			l.Importance = widget.MediumImportance
			if id.Row >= 0 && id.Row < len(v.entries) && id.Col == 7 && v.entries[id.Row].Decision != library.DecisionAllowed &&
				v.entries[id.Row].Decision != DecisionGranted {
				l.Importance = widget.DangerImportance
			}
			l.SetText(v.CellText(id.Row, id.Col))
		})
	v.table.ShowHeaderColumn = false
	v.table.CreateHeader = func() fyne.CanvasObject {
		l := widget.NewLabel("")
		l.TextStyle = fyne.TextStyle{Bold: true}
		return l
	}
	v.table.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		if id.Col >= 0 && id.Col < len(AuditColumns) {
			o.(*widget.Label).SetText(AuditColumns[id.Col])
		}
	}
	for i, w := range auditWidths {
		v.table.SetColumnWidth(i, w)
	}
	v.table.OnSelected = func(id widget.TableCellID) { v.Select(id.Row) }

	v.status = widget.NewLabel("")
	v.detail = widget.NewLabel("Choose a row to see it whole.")
	v.detail.Wrapping = fyne.TextWrapWord
	v.copyBtn = widget.NewButtonWithIcon("Copy SHA-256", theme.ContentCopyIcon(), v.copyHash)
	v.copyBtn.Disable()
	v.reload = widget.NewButtonWithIcon("Refresh", theme.ViewRefreshIcon(), v.Reload)
	v.older = widget.NewButton("Load older", v.LoadOlder)
	v.older.Disable()
	v.ExtendBaseWidget(v)
	v.Reload()
	return v
}

// CreateRenderer implements fyne.Widget.
func (v *AuditView) CreateRenderer() fyne.WidgetRenderer {
	top := container.NewHBox(v.reload, v.older, v.status)
	bottom := container.NewBorder(nil, nil, nil, v.copyBtn, v.detail)
	return widget.NewSimpleRenderer(container.NewBorder(top, bottom, nil, nil, v.table))
}

// Entries are the entries shown, newest first.
func (v *AuditView) Entries() []library.AuditEntry { return slices.Clone(v.entries) }

// Loading says whether a read is under way.
func (v *AuditView) Loading() bool { return v.loading }

// Status is the line above the table: how many entries, or why none could be read.
func (v *AuditView) Status() string { return v.status.Text }

// Detail is the chosen entry written out whole.
func (v *AuditView) Detail() string { return v.detail.Text }

// Reload reads the newest entries again.
func (v *AuditView) Reload() { v.load(0) }

// LoadOlder reads the page of entries before the oldest shown.
func (v *AuditView) LoadOlder() {
	if len(v.entries) > 0 {
		v.load(v.entries[len(v.entries)-1].ID)
	}
}

func (v *AuditView) load(before int64) {
	v.gen++
	gen := v.gen
	v.loading = true
	v.reload.Disable()
	v.older.Disable()
	v.status.SetText("Reading the audit log…")
	src, q := v.src, library.AuditQuery{VM: v.vm, Limit: auditPage, BeforeID: before}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), auditTimeout)
		defer cancel()
		entries, err := src.ListAudit(ctx, q)
		v.do(func() { v.loaded(gen, before, entries, err) })
	}()
}

func (v *AuditView) loaded(gen int, before int64, entries []library.AuditEntry, err error) {
	if gen != v.gen {
		return
	}
	v.loading = false
	v.reload.Enable()
	if err != nil {
		v.status.SetText("Cannot read the audit log: " + err.Error())
		return
	}
	if before == 0 {
		v.entries = entries
		v.selected = -1
		v.table.UnselectAll()
		v.showDetail()
	} else {
		v.entries = append(v.entries, entries...)
	}
	v.more = len(entries) == auditPage
	if v.more {
		v.older.Enable()
	}
	switch n := len(v.entries); n {
	case 0:
		v.status.SetText("Nothing has crossed, and nothing was refused.")
	case 1:
		v.status.SetText("1 entry, newest first")
	default:
		v.status.SetText(fmt.Sprintf("%d entries, newest first", n))
	}
	v.table.Refresh()
}

// CellText is what the table shows in a cell.
func (v *AuditView) CellText(row, col int) string {
	if row < 0 || row >= len(v.entries) {
		return ""
	}
	e := v.entries[row]
	switch col {
	case 0:
		return e.Time.Local().Format("2006-01-02 15:04:05")
	case 1:
		return e.VMName
	case 2:
		return e.Channel
	case 3:
		return DirectionText(e.Direction)
	case 4:
		return FormatSize(e.Bytes)
	case 5:
		return ShortHash(e.SHA256)
	case 6:
		return e.Rule
	case 7:
		return e.Decision
	}
	return ""
}

// Select chooses a row: it is shown whole below the table, and its SHA-256 can be copied.
func (v *AuditView) Select(row int) {
	if row < 0 || row >= len(v.entries) {
		row = -1
	}
	v.selected = row
	v.showDetail()
}

func (v *AuditView) showDetail() {
	if v.selected < 0 {
		v.detail.SetText("Choose a row to see it whole.")
		v.copyBtn.Disable()
		return
	}
	e := v.entries[v.selected]
	hash := e.SHA256
	if hash == "" {
		hash = "none (nothing was read)"
	}
	v.detail.SetText(fmt.Sprintf("%s · %s · %s %s · %s · %s (%s)\nSHA-256: %s",
		e.Time.Local().Format("2006-01-02 15:04:05.000"), e.VMName, e.Channel, DirectionText(e.Direction),
		FormatSize(e.Bytes), e.Decision, e.Rule, hash))
	if e.SHA256 != "" {
		v.copyBtn.Enable()
	} else {
		v.copyBtn.Disable()
	}
}

func (v *AuditView) copyHash() {
	if v.selected < 0 || v.selected >= len(v.entries) || v.entries[v.selected].SHA256 == "" {
		return
	}
	fyne.CurrentApp().Clipboard().SetContent(v.entries[v.selected].SHA256)
}

// OpenAuditWindow opens a window with the audit log of vm ("" for every VM); title names what it shows.
func OpenAuditWindow(app fyne.App, src AuditSource, vm, title string, do func(func())) (fyne.Window, *AuditView) {
	w := app.NewWindow(title)
	v := NewAuditView(src, vm, do)
	close := widget.NewButton("Close", w.Close)
	w.SetContent(container.NewPadded(container.NewBorder(nil, container.NewHBox(layout.NewSpacer(), close), nil, nil, v)))
	w.Resize(fyne.NewSize(1000, 520))
	w.Show()
	return w, v
}
