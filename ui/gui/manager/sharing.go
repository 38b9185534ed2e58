package manager

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"fyne.io/fyne/v2"

	"paddock/library"
	"paddock/sharing/clipboard"
	"paddock/sharing/policy"
	"paddock/ui/gui/sharingui"
	"paddock/ui/gui/vmwindow"
	"paddock/ui/vmctl"
)

// SharingOptions tunes how the manager reaches a running VM's sharing; tests replace the calls.
type SharingOptions struct {
	// Apply pushes the library's sharing policy to a running VM; nil means vmctl.ApplySharing.
	Apply func(ctx context.Context, lib *library.Library, vm library.VM) error
	// RunClipboard runs a VM's clipboard channel until ctx ends; nil means vmctl.RunClipboardWith.
	RunClipboard func(ctx context.Context, lib *library.Library, vm library.VM, cfg vmctl.ClipboardConfig) error
	// AskTimeout is how long a clipboard question waits before it denies; 0 means the default.
	AskTimeout time.Duration
	// WatchInterval is how often the host clipboard is looked at while a bridge runs; 0 means the default.
	WatchInterval time.Duration
}

// sharing is the manager's part in sharing: the clipboard bridges of VMs whose windows are open, the question
// dialogs, the badges and the audit windows. Its methods run on the UI goroutine.
type sharing struct {
	m     *Manager
	asker *sharingui.Asker
	clips map[string]*clipRun // by VM id
	audit map[string]*auditWindow
}

// clipRun is one VM's clipboard bridge.
type clipRun struct {
	cancel context.CancelFunc
	done   chan struct{} // closed once the channel has returned
	ended  bool          // it returned: start again only when the policy changes
	err    error

	mu     sync.Mutex
	policy library.SharePolicy // the policy it runs with
	bridge *clipboard.Bridge   // while the guest's agent is connected
}

// setPolicy gives the open bridge a changed policy at once, so a narrowing holds from the next crossing.
func (r *clipRun) setPolicy(p library.SharePolicy) {
	r.mu.Lock()
	r.policy = p
	b := r.bridge
	r.mu.Unlock()
	if b != nil {
		b.SetPolicy(p)
	}
}

func (r *clipRun) setBridge(b *clipboard.Bridge) {
	r.mu.Lock()
	r.bridge = b
	p := r.policy
	r.mu.Unlock()
	if b != nil {
		b.SetPolicy(p) // it may have opened with a policy read before the last change
	}
}

// sendHost sends the host clipboard to the guest when the policy lets it go that way; otherwise a host copy is
// no crossing at all (and no audit entry).
func (r *clipRun) sendHost(ctx context.Context) {
	r.mu.Lock()
	b, p := r.bridge, r.policy
	r.mu.Unlock()
	if b == nil || policy.Permits(p, policy.HostToGuest) != "" {
		return
	}
	if err := b.SendHostClipboard(ctx); err != nil && ctx.Err() == nil {
		slog.Info("host clipboard not sent to the guest", "err", err)
	}
}

type auditWindow struct {
	win  fyne.Window
	view *sharingui.AuditView
}

func newSharing(m *Manager) *sharing {
	sh := &sharing{m: m, clips: map[string]*clipRun{}, audit: map[string]*auditWindow{}}
	sh.asker = sharingui.NewAsker(func(r clipboard.AskRequest) fyne.Window {
		if w := m.displays[r.VMID]; w != nil {
			return w.Fyne()
		}
		return m.win
	}, m.do, m.opts.Sharing.AskTimeout)
	return sh
}

func (sh *sharing) apply(ctx context.Context, vm library.VM) error {
	if f := sh.m.opts.Sharing.Apply; f != nil {
		return f(ctx, sh.m.lib, vm)
	}
	return vmctl.ApplySharing(ctx, sh.m.lib, vm)
}

// Asker is the dialog that asks before clipboard text crosses.
func (m *Manager) Asker() *sharingui.Asker { return m.sharing.asker }

// windowOptions are a VM window's sharing hooks: typing the host clipboard (audited) and the audit log.
func (sh *sharing) windowOptions(vm library.VM, opts vmwindow.Options) vmwindow.Options {
	m := sh.m
	id, name := vm.ID, vm.Name
	opts.OnTyped = func(r vmwindow.TypeResult) {
		e := sharingui.TypedAudit(id, name, r.Text, r.Typed, r.Why)
		go func() {
			if _, err := m.lib.AppendAudit(context.WithoutCancel(m.ctx), e); err != nil {
				slog.Error("writing audit entry", "vm", name, "err", err)
			}
		}()
	}
	opts.OnAuditLog = func() { m.OpenAudit(id) }
	return opts
}

// windowOpened shows the VM's sharing in its new window and starts its clipboard bridge when the policy opens
// the clipboard.
func (sh *sharing) windowOpened(vm library.VM, w *vmwindow.Window) {
	w.SetSharingBadge(badgeText(vm))
	sh.syncClipboard(vm)
}

// windowClosed stops the VM's clipboard bridge: it runs only while the window is open.
func (sh *sharing) windowClosed(id string) { sh.stopClipboard(id) }

// stopClipboard stops the VM's bridge and returns what closes once it has returned (nil when none ran).
func (sh *sharing) stopClipboard(id string) <-chan struct{} {
	r := sh.clips[id]
	if r == nil {
		return nil
	}
	r.cancel()
	delete(sh.clips, id)
	return r.done
}

// vmChanged brings a VM's badge and bridge in step with its newly read record.
func (sh *sharing) vmChanged(vm library.VM) {
	if w := sh.m.displays[vm.ID]; w != nil {
		w.SetSharingBadge(badgeText(vm))
	}
	sh.syncClipboard(vm)
}

// vmsChanged runs after the list was read again.
func (sh *sharing) vmsChanged() {
	for id := range sh.clips {
		if _, ok := sh.m.vm(id); !ok || sh.m.displays[id] == nil {
			sh.windowClosed(id)
		}
	}
	for id := range sh.m.displays {
		if vm, ok := sh.m.vm(id); ok {
			sh.vmChanged(vm)
		}
	}
}

// badgeText is the badge of a VM: what it shares, while it runs.
func badgeText(vm library.VM) string {
	if !vm.State.Active() {
		return ""
	}
	return sharingui.Summary(vm.Sharing, vm.Shares)
}

// syncClipboard runs the VM's clipboard bridge while its window is open, it runs, and its clipboard is not off.
func (sh *sharing) syncClipboard(vm library.VM) {
	want := sh.m.displays[vm.ID] != nil && vm.State.Active() && vm.Sharing.Clipboard != library.ClipboardOff &&
		vm.Sharing.Clipboard != ""
	r := sh.clips[vm.ID]
	switch {
	case !want:
		sh.stopClipboard(vm.ID)
	case r == nil:
		sh.startClipboard(vm, nil)
	case r.ended && r.policy != vm.Sharing:
		sh.startClipboard(vm, sh.stopClipboard(vm.ID))
	default:
		r.setPolicy(vm.Sharing)
	}
}

// startClipboard runs the VM's bridge once after (when not nil) has closed.
func (sh *sharing) startClipboard(vm library.VM, after <-chan struct{}) {
	m := sh.m
	ctx, cancel := context.WithCancel(m.ctx)
	r := &clipRun{policy: vm.Sharing, cancel: cancel, done: make(chan struct{})}
	sh.clips[vm.ID] = r
	host := sharingui.NewHostClipboard(m.app.Clipboard(), m.do)
	run := m.opts.Sharing.RunClipboard
	if run == nil {
		run = vmctl.RunClipboardWith
	}
	lib, asker, interval := m.lib, sh.asker, m.opts.Sharing.WatchInterval
	go func() {
		defer close(r.done)
		if after != nil {
			select {
			case <-after:
			case <-ctx.Done():
				return
			}
		}
		go host.Watch(ctx, interval)
		go func() { // the host-to-guest direction keeps in step with the host clipboard
			for {
				select {
				case <-ctx.Done():
					return
				case <-host.Changes():
					r.sendHost(ctx)
				}
			}
		}()
		err := run(ctx, lib, vm, vmctl.ClipboardConfig{Host: host, Asker: asker, OnBridge: r.setBridge})
		cancel()
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		if err != nil {
			slog.Warn("clipboard bridge ended", "vm", vm.Name, "err", err)
		}
		m.ui(func() {
			if sh.clips[vm.ID] == r {
				r.ended, r.err = true, err
			}
		})
	}()
}

// ClipboardRunning says whether the VM's clipboard bridge runs.
func (m *Manager) ClipboardRunning(id string) bool {
	r := m.sharing.clips[id]
	return r != nil && !r.ended
}

// OpenAudit opens the audit log of one VM (id), or of every VM (id ""), or brings it forward.
func (m *Manager) OpenAudit(id string) *sharingui.AuditView {
	sh := m.sharing
	if a := sh.audit[id]; a != nil {
		a.view.Reload()
		a.win.RequestFocus()
		return a.view
	}
	title := "Audit log — all VMs"
	if id != "" {
		vm, ok := m.vm(id)
		if !ok {
			return nil
		}
		title = "Audit log — " + vm.Name
	}
	win, view := sharingui.OpenAuditWindow(m.app, m.lib, id, title, m.do)
	a := &auditWindow{win: win, view: view}
	sh.audit[id] = a
	win.SetOnClosed(func() {
		if sh.audit[id] == a {
			delete(sh.audit, id)
		}
	})
	return view
}

// closeAll closes the audit windows and stops the bridges.
func (sh *sharing) closeAll() {
	for id := range sh.clips {
		sh.windowClosed(id)
	}
	for _, a := range sh.audit {
		a.win.Close()
	}
}

// mainMenu is the manager window's menu.
func (m *Manager) mainMenu() *fyne.MainMenu {
	quit := fyne.NewMenuItem("Quit", m.RequestQuit)
	quit.IsQuit = true
	return fyne.NewMainMenu(
		fyne.NewMenu("Paddock", fyne.NewMenuItem("New VM…", func() { m.OpenWizard(nil) }),
			fyne.NewMenuItemSeparator(), quit),
		fyne.NewMenu("Sharing", fyne.NewMenuItem("Audit log of all VMs…", func() { m.OpenAudit("") })),
	)
}
