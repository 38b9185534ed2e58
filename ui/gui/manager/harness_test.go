package manager

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"paddock/display"
	"paddock/engine/control"
	"paddock/library"
	_ "paddock/ui/localefix" // before Fyne reads the locale
	"paddock/ui/vmctl"
)

// testLimits are a fixed host, so the bounds the tests check do not depend on the machine.
var testLimits = vmctl.HostLimits{MaxCPUs: 8, MaxMemoryMiB: 16384, NumCPU: 8}

// harness is a manager window on a private library, driven by Fyne's test driver. Everything the manager sends
// to the UI goroutine waits in a queue that the test goroutine drains (pump), so the test sees a consistent UI.
type harness struct {
	t   testing.TB
	lib *library.Library
	ctl *vmctl.Controller
	m   *Manager
	q   chan func()
}

type harnessOptions struct {
	program string // the paddock executable for vmctl; "" when no VM is started for real
	opts    Options
}

func newHarness(t testing.TB, ho harnessOptions) *harness {
	t.Helper()
	home := t.TempDir()
	t.Setenv("PADDOCK_HOME", home)
	// Sockets live under the runtime dir: keep its path short (sun_path holds 108 bytes).
	rt, err := os.MkdirTemp("", "pdkm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(rt) })
	t.Setenv("XDG_RUNTIME_DIR", rt)
	lib, err := library.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, lib: lib, ctl: vmctl.New(lib, ho.program), q: make(chan func(), 4096)}
	opts := ho.opts
	opts.RunOnUI = func(f func()) { h.q <- f }
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = time.Hour // the tests ask for refreshes
	}
	if opts.ThumbnailInterval == 0 {
		opts.ThumbnailInterval = 50 * time.Millisecond
	}
	opts.NoDisplayOnStart = true
	if opts.Limits.MaxCPUs == 0 {
		opts.Limits = testLimits
	}
	test.NewTempApp(t)
	h.m = New(fyne.CurrentApp(), h.ctl, opts)
	h.m.Show()
	t.Cleanup(func() {
		stop := make(chan struct{})
		go func() { // keep the background loops from blocking on a full queue while they stop
			for {
				select {
				case <-h.q:
				case <-stop:
					return
				}
			}
		}()
		h.m.Close()
		close(stop)
		lib.Close()
	})
	h.waitLoaded()
	return h
}

// pump runs the UI work the manager queued until cond holds, failing after a while.
func (h *harness) pump(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(testTimeout())
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; notice: %q", what, h.m.Notice())
		}
		select {
		case f := <-h.q:
			f()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// drain runs the UI work queued so far.
func (h *harness) drain() {
	for {
		select {
		case f := <-h.q:
			f()
		default:
			return
		}
	}
}

func testTimeout() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("PADDOCK_TEST_TIMEOUT")); err == nil && d > 0 {
		return d
	}
	return 30 * time.Second
}

func (h *harness) waitLoaded() {
	h.t.Helper()
	h.pump("the first list", func() bool { return h.m.loaded })
}

// refresh makes the window re-read the library and waits until it shows what it read.
func (h *harness) refresh() {
	h.t.Helper()
	before := h.m.loads.Load() // a read already under way may have missed what the test just did
	h.m.requestRefresh()
	h.pump("a refresh of the list", func() bool { return h.m.shownLoad > before })
}

func (h *harness) createVM(spec library.VMSpec) library.VM {
	h.t.Helper()
	if spec.CPUs == 0 {
		spec.CPUs = 1
	}
	if spec.MemoryMiB == 0 {
		spec.MemoryMiB = 128
	}
	vm, err := h.lib.CreateVM(context.Background(), spec)
	if err != nil {
		h.t.Fatal(err)
	}
	return vm
}

// rows are the list rows on screen.
func (h *harness) rows() []*vmRow {
	var out []*vmRow
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if o == nil || !o.Visible() {
			return
		}
		switch v := o.(type) {
		case *vmRow:
			if v.index >= 0 {
				out = append(out, v)
			}
		case *fyne.Container:
			for _, c := range v.Objects {
				walk(c)
			}
		case fyne.Widget:
			for _, c := range test.WidgetRenderer(v).Objects() {
				walk(c)
			}
		}
	}
	walk(h.m.win.Content())
	return out
}

// row is the row showing the VM called name.
func (h *harness) row(name string) *vmRow {
	h.t.Helper()
	for _, r := range h.rows() {
		if r.name.Text == name {
			return r
		}
	}
	var names []string
	for _, r := range h.rows() {
		names = append(names, r.name.Text)
	}
	h.t.Fatalf("no row shows %q; rows: %q", name, names)
	return nil
}

// fakeVMM answers a VM's control socket as a running VMM does, with a framebuffer the test draws into.
type fakeVMM struct {
	srv *control.Server
	fb  *display.Framebuffer

	mu    sync.Mutex
	state string
	ops   []string
}

func startFakeVMM(t *testing.T, vm library.VM, width, height int) *fakeVMM {
	t.Helper()
	mode, err := display.NewMode(width, height)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := display.NewFramebuffer(mode)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeVMM{fb: fb, state: control.StateRunning}
	if _, err := control.EnsureSocketDir(); err != nil {
		t.Fatal(err)
	}
	f.srv, err = control.Listen(vmctl.SocketPath(vm), control.HandlerFunc(f.handle), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.close)
	return f
}

func (f *fakeVMM) handle(op string, _ json.RawMessage) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, op)
	switch op {
	case control.OpStatus:
		return control.Status{State: f.state}, nil
	case control.OpStop, control.OpPowerOff:
		return nil, nil
	case control.OpFramebuffer:
		m := f.fb.Mode()
		return control.WithFDs{Result: control.FramebufferInfo{Width: m.Width, Height: m.Height, Stride: m.Stride},
			FDs: []int{f.fb.Fd()}}, nil
	case control.OpDirtyPages:
		return control.DirtyPages{}, nil
	case control.OpKey, control.OpPointerState:
		return nil, nil
	}
	return nil, fmt.Errorf("unknown op %q", op)
}

func (f *fakeVMM) saw(op string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.ops {
		if o == op {
			return true
		}
	}
	return false
}

// fill paints the whole screen one XRGB colour.
func (f *fakeVMM) fill(xrgb uint32) {
	m := f.fb.Mode()
	pix := f.fb.Memory()
	for y := 0; y < m.Height; y++ {
		for x := 0; x < m.Width; x++ {
			o := y*m.Stride + x*display.BytesPerPixel
			pix[o], pix[o+1], pix[o+2], pix[o+3] = byte(xrgb), byte(xrgb>>8), byte(xrgb>>16), 0
		}
	}
}

func (f *fakeVMM) close() {
	if f.srv != nil {
		f.srv.Close()
		f.srv = nil
	}
	if f.fb != nil {
		f.fb.Close()
		f.fb = nil
	}
}

func contains(s, sub string) bool { return strings.Contains(strings.ToLower(s), strings.ToLower(sub)) }
