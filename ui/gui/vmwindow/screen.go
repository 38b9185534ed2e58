package vmwindow

import (
	"image"
	"image/color"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"

	"paddock/display"
)

const (
	// DefaultRefreshRate is how often the screen looks for guest drawing, per second.
	DefaultRefreshRate = 60
	// wheelStep is the scroll distance Fyne's desktop driver reports for one wheel notch on Linux.
	wheelStep = 25
	// maxWheelSteps bounds one scroll event, since Fyne multiplies fast touchpad flicks many times over.
	maxWheelSteps = 10
	// maxPendingRects is how many damaged areas wait for the UI before they are merged into one.
	maxPendingRects = 64
	// keyG is the physical key of the release shortcut, Ctrl+Alt+G.
	keyG display.Key = 34
)

// Screen is the guest screen as a widget: it shows the framebuffer scaled to fit with its aspect ratio kept, and
// while it has focus it sends every key, by its physical position, to the guest. Pointer movement, buttons and the
// wheel go to the guest whenever the pointer is over the screen.
type Screen struct {
	widget.BaseWidget

	console display.Console
	fb      *display.Framebuffer
	mode    display.Mode
	input   *inputQueue

	// The refresh goroutine's own state.
	tracker  *display.DamageTracker
	bitmap   []uint64
	interval time.Duration
	failing  bool
	// wake makes the refresh goroutine look at once and at full rate: input usually makes the guest draw.
	wake chan struct{}

	// Damage found by the refresh goroutine and waiting for the UI goroutine.
	mu        sync.Mutex
	pending   []image.Rectangle
	scheduled bool
	closed    bool

	frames atomic.Uint64
	stop   chan struct{}
	done   chan struct{}

	// UI goroutine state.
	pixels     *image.RGBA
	image      *canvas.Image
	place      placement
	started    bool
	focused    bool
	held       map[display.Key]bool
	lastDown   display.Key
	awaitTyped bool // the key just pressed has not had its own TypedKey yet
	buttons    display.Buttons
	dragging   bool
	px, py     int
	wheel      float32

	onFocusChange func(focused bool)
}

var (
	_ desktop.Keyable   = (*Screen)(nil)
	_ desktop.Hoverable = (*Screen)(nil)
	_ desktop.Mouseable = (*Screen)(nil)
	_ fyne.Scrollable   = (*Screen)(nil)
	_ fyne.Draggable    = (*Screen)(nil)
	_ fyne.Tabbable     = (*Screen)(nil)
	_ fyne.Shortcutable = (*Screen)(nil)
)

// NewScreen makes the widget for a console's screen. refreshRate caps updates per second (0 means
// DefaultRefreshRate). Nothing runs until Start.
func NewScreen(c display.Console, refreshRate int) *Screen {
	if refreshRate <= 0 || refreshRate > DefaultRefreshRate {
		refreshRate = DefaultRefreshRate
	}
	fb := c.Framebuffer()
	s := &Screen{
		console:  c,
		fb:       fb,
		mode:     fb.Mode(),
		tracker:  display.NewDamageTracker(fb),
		interval: time.Second / time.Duration(refreshRate),
		wake:     make(chan struct{}, 1),
		held:     map[display.Key]bool{},
	}
	s.bitmap = make([]uint64, (s.tracker.Pages()+63)/64)
	// The first frame is the whole screen; it also brings the tracker's shadow copy up to date.
	s.tracker.Update(s.tracker.All())
	s.pixels = fb.Snapshot()
	s.image = canvas.NewImageFromImage(s.pixels)
	s.image.FillMode = canvas.ImageFillStretch // the renderer keeps the aspect ratio itself
	s.image.ScaleMode = canvas.ImageScalePixels
	s.input = newInputQueue(c)
	s.ExtendBaseWidget(s)
	return s
}

// GuestSize is the guest screen's size in pixels.
func (s *Screen) GuestSize() (width, height int) { return s.mode.Width, s.mode.Height }

// Start begins following the guest's drawing. Call it on the UI goroutine.
func (s *Screen) Start() {
	if s.started {
		return
	}
	s.started = true
	s.stop = make(chan struct{})
	s.done = make(chan struct{})
	go s.refreshLoop(s.stop, s.done)
}

// Stop releases every key and button the guest sees held, stops the refresh and lets queued input drain. Call it
// on the UI goroutine; the screen cannot be started again.
func (s *Screen) Stop() {
	s.releaseKeys()
	if s.buttons != 0 {
		s.buttons = 0
		s.pushPointer(false, 0)
	}
	s.input.close()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if s.started {
		s.started = false
		close(s.stop)
		// Wait for the refresh goroutine: the console (and the framebuffer mapping it reads) may be closed as
		// soon as Stop returns. It never waits on the UI goroutine (fyne.Do queues), so this cannot deadlock.
		<-s.done
	}
}

// Frames is how many times the screen has been redrawn with guest changes.
func (s *Screen) Frames() uint64 { return s.frames.Load() }

// Snapshot is the guest screen now, as an image. Safe from any goroutine.
func (s *Screen) Snapshot() *image.RGBA { return s.fb.Snapshot() }

// SendKeys sends key events to the guest in order, whatever has focus (a toolbar's Ctrl+Alt+Del).
func (s *Screen) SendKeys(events []display.KeyEvent) {
	for _, ev := range events {
		s.send(inputEvent{isKey: true, key: ev})
	}
}

// Focused reports whether the keyboard goes to the guest.
func (s *Screen) Focused() bool { return s.focused }

// CreateRenderer implements fyne.Widget.
func (s *Screen) CreateRenderer() fyne.WidgetRenderer {
	bg := canvas.NewRectangle(color.Black)
	return &screenRenderer{s: s, bg: bg}
}

// MinSize keeps the screen usable but lets the window shrink well below the guest's size.
func (s *Screen) MinSize() fyne.Size { return fyne.NewSize(160, 100) }

// After idleAfter without a change on the guest's screen, the screen is looked at only every idleInterval (until
// it changes or the user types or moves the pointer), so an idle guest with its window open costs almost nothing.
const (
	idleAfter    = time.Second
	idleInterval = 200 * time.Millisecond
)

// refreshLoop polls the dirty log and hands damaged areas to the UI goroutine.
func (s *Screen) refreshLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTimer(s.interval)
	defer t.Stop()
	lastChange := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-s.wake:
			lastChange = time.Now()
		case <-t.C:
		}
		if s.poll() {
			lastChange = time.Now()
		}
		next := s.interval
		if time.Since(lastChange) > idleAfter {
			next = idleInterval
		}
		t.Reset(next)
	}
}

// send queues input for the guest and wakes the refresh, since the guest will likely draw in answer.
func (s *Screen) send(ev inputEvent) {
	s.input.push(ev)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// poll asks the console which pages the guest wrote and, if any pixel changed, schedules a redraw; it says whether
// anything changed. An idle guest ends here with no work for the UI.
func (s *Screen) poll() bool {
	clear(s.bitmap)
	if err := s.console.DirtyPages(s.bitmap); err != nil {
		if !s.failing {
			slog.Warn("read vm screen changes", "err", err)
			s.failing = true
		}
		return false
	}
	s.failing = false
	if !slices.ContainsFunc(s.bitmap, func(w uint64) bool { return w != 0 }) {
		return false
	}
	rects := s.tracker.Update(s.bitmap)
	if len(rects) == 0 {
		return false
	}
	s.mu.Lock()
	s.pending = append(s.pending, rects...)
	if len(s.pending) > maxPendingRects {
		u := s.pending[0]
		for _, r := range s.pending[1:] {
			u = u.Union(r)
		}
		s.pending = append(s.pending[:0], u)
	}
	schedule := !s.scheduled && !s.closed
	s.scheduled = true
	s.mu.Unlock()
	if schedule {
		fyne.Do(s.applyDamage)
	}
	return true
}

// applyDamage copies the changed areas into the shown image and redraws it; it runs on the UI goroutine.
func (s *Screen) applyDamage() {
	s.mu.Lock()
	rects := s.pending
	s.pending = nil
	s.scheduled = false
	closed := s.closed
	s.mu.Unlock()
	if closed || len(rects) == 0 {
		return
	}
	for _, r := range rects {
		s.fb.CopyRect(s.pixels, r)
	}
	canvas.Refresh(s.image)
	s.frames.Add(1)
}

// layout places the guest image inside size and remembers where, for mapping the pointer.
func (s *Screen) layout(size fyne.Size) placement {
	scale := float32(1)
	if app := fyne.CurrentApp(); app != nil {
		if c := app.Driver().CanvasForObject(s); c != nil {
			scale = c.Scale()
		}
	}
	s.place = fit(size, s.mode.Width, s.mode.Height, scale)
	return s.place
}

// guestPoint maps a widget position to a guest pixel.
func (s *Screen) guestPoint(pos fyne.Position) (int, int) {
	if s.place.scale <= 0 {
		s.layout(s.Size())
	}
	return s.place.guestPoint(pos, s.mode.Width, s.mode.Height)
}

// Keyboard.

// FocusGained implements fyne.Focusable: from now on keys go to the guest.
func (s *Screen) FocusGained() {
	s.focused = true
	if s.onFocusChange != nil {
		s.onFocusChange(true)
	}
}

// FocusLost implements fyne.Focusable: keys still held are released in the guest, so none sticks.
func (s *Screen) FocusLost() {
	s.focused = false
	s.releaseKeys()
	if s.onFocusChange != nil {
		s.onFocusChange(false)
	}
}

// AcceptsTab implements fyne.Tabbable: Tab goes to the guest instead of moving focus.
func (s *Screen) AcceptsTab() bool { return true }

// KeyDown implements desktop.Keyable.
func (s *Screen) KeyDown(ev *fyne.KeyEvent) {
	k, ok := display.FromX11Keycode(ev.Physical.ScanCode)
	if !ok {
		return
	}
	if k == keyG && (s.held[display.KeyLeftCtrl] || s.held[rightCtrl]) && (s.held[display.KeyLeftAlt] || s.held[rightAlt]) {
		s.ReleaseKeyboard()
		return
	}
	s.held[k] = true
	s.lastDown = k
	s.awaitTyped = true
	s.send(inputEvent{isKey: true, key: display.KeyEvent{Key: k, Down: true}})
}

// KeyUp implements desktop.Keyable.
func (s *Screen) KeyUp(ev *fyne.KeyEvent) {
	k, ok := display.FromX11Keycode(ev.Physical.ScanCode)
	if !ok || !s.held[k] {
		return
	}
	delete(s.held, k)
	s.send(inputEvent{isKey: true, key: display.KeyEvent{Key: k, Down: false}})
}

// TypedKey implements fyne.Focusable. Fyne calls it once for a press and again for each typematic repeat of the
// key held last; a repeat reaches the guest as another key down, as a PC keyboard sends it.
func (s *Screen) TypedKey(*fyne.KeyEvent) { s.typed() }

// TypedShortcut implements fyne.Shortcutable, so Fyne hands shortcuts (Ctrl+C, Ctrl+A, ...) here instead of
// acting on them; the keys themselves already went to the guest. Like TypedKey it marks typematic repeats.
func (s *Screen) TypedShortcut(fyne.Shortcut) { s.typed() }

// TypedRune implements fyne.Focusable: text is the guest's business, it gets physical keys.
func (s *Screen) TypedRune(rune) {}

func (s *Screen) typed() {
	if s.awaitTyped {
		s.awaitTyped = false
		return
	}
	if s.held[s.lastDown] {
		s.send(inputEvent{isKey: true, key: display.KeyEvent{Key: s.lastDown, Down: true}})
	}
}

// ReleaseKeyboard takes the keyboard away from the guest (what Ctrl+Alt+G does).
func (s *Screen) ReleaseKeyboard() {
	if c := s.canvas(); c != nil && c.Focused() == fyne.Focusable(s) {
		c.Unfocus() // calls FocusLost, which releases the held keys
		return
	}
	s.releaseKeys()
}

// CaptureKeyboard gives the keyboard to the guest.
func (s *Screen) CaptureKeyboard() {
	if c := s.canvas(); c != nil && c.Focused() != fyne.Focusable(s) {
		c.Focus(s)
	}
}

func (s *Screen) releaseKeys() {
	keys := make([]display.Key, 0, len(s.held))
	for k := range s.held {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s.send(inputEvent{isKey: true, key: display.KeyEvent{Key: k, Down: false}})
	}
	clear(s.held)
	s.awaitTyped = false
}

func (s *Screen) canvas() fyne.Canvas {
	if app := fyne.CurrentApp(); app != nil {
		return app.Driver().CanvasForObject(s)
	}
	return nil
}

// Right-hand modifiers, which display names only by number.
const (
	rightCtrl display.Key = 97
	rightAlt  display.Key = 100
)

// Pointer.

// MouseIn implements desktop.Hoverable.
func (s *Screen) MouseIn(ev *desktop.MouseEvent) { s.movePointer(ev.Position) }

// MouseMoved implements desktop.Hoverable.
func (s *Screen) MouseMoved(ev *desktop.MouseEvent) { s.movePointer(ev.Position) }

// MouseOut implements desktop.Hoverable: buttons held when the pointer leaves (other than by a drag, which Fyne
// keeps following) are released, since the release will not come here.
func (s *Screen) MouseOut() {
	if s.buttons != 0 && !s.dragging {
		s.buttons = 0
		s.pushPointer(false, 0)
	}
}

// MouseDown implements desktop.Mouseable; a click also gives the keyboard to the guest.
func (s *Screen) MouseDown(ev *desktop.MouseEvent) {
	s.CaptureKeyboard()
	s.px, s.py = s.guestPoint(ev.Position)
	s.buttons |= guestButton(ev.Button)
	s.pushPointer(false, 0)
}

// MouseUp implements desktop.Mouseable.
func (s *Screen) MouseUp(ev *desktop.MouseEvent) {
	s.px, s.py = s.guestPoint(ev.Position)
	s.buttons &^= guestButton(ev.Button)
	s.pushPointer(false, 0)
}

// Dragged implements fyne.Draggable, so a drag that leaves the screen keeps moving the guest pointer (clamped).
func (s *Screen) Dragged(ev *fyne.DragEvent) {
	s.dragging = true
	s.movePointer(ev.Position)
}

// DragEnd implements fyne.Draggable.
func (s *Screen) DragEnd() { s.dragging = false }

// Scrolled implements fyne.Scrollable: scrolling turns into wheel steps, positive away from the user.
func (s *Screen) Scrolled(ev *fyne.ScrollEvent) {
	s.wheel += ev.Scrolled.DY / wheelStep
	steps := int(s.wheel) // toward zero: the remainder of a smooth scroll waits for more
	s.wheel -= float32(steps)
	if steps > maxWheelSteps || steps < -maxWheelSteps {
		steps = clamp(steps, -maxWheelSteps, maxWheelSteps)
		s.wheel = 0
	}
	if steps != 0 {
		s.pushPointer(false, steps)
	}
}

func (s *Screen) movePointer(pos fyne.Position) {
	x, y := s.guestPoint(pos)
	s.px, s.py = x, y
	s.pushPointer(true, 0)
}

func (s *Screen) pushPointer(move bool, wheel int) {
	s.send(inputEvent{move: move, pointer: display.PointerState{X: s.px, Y: s.py, Buttons: s.buttons, Wheel: wheel}})
}

func guestButton(b desktop.MouseButton) display.Buttons {
	var out display.Buttons
	if b&desktop.MouseButtonPrimary != 0 {
		out |= display.ButtonLeft
	}
	if b&desktop.MouseButtonSecondary != 0 {
		out |= display.ButtonRight
	}
	if b&desktop.MouseButtonTertiary != 0 {
		out |= display.ButtonMiddle
	}
	return out
}

// screenRenderer draws black bars and the guest image placed by fit.
type screenRenderer struct {
	s  *Screen
	bg *canvas.Rectangle
}

func (r *screenRenderer) Layout(size fyne.Size) {
	r.bg.Resize(size)
	p := r.s.layout(size)
	img := r.s.image
	img.Move(p.pos)
	img.Resize(p.size)
	// Nearest-neighbour at 1:1 and above keeps pixels sharp; below it the GPU's linear filter smooths for free.
	mode := canvas.ImageScalePixels
	if p.pixel < 1 {
		mode = canvas.ImageScaleFastest
	}
	if img.ScaleMode != mode {
		img.ScaleMode = mode
		canvas.Refresh(img)
	}
}

func (r *screenRenderer) MinSize() fyne.Size { return r.s.MinSize() }

func (r *screenRenderer) Refresh() {
	r.bg.Refresh()
	canvas.Refresh(r.s.image)
}

func (r *screenRenderer) Objects() []fyne.CanvasObject { return []fyne.CanvasObject{r.bg, r.s.image} }

func (r *screenRenderer) Destroy() {}
