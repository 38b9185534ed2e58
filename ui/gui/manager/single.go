package manager

import (
	"fmt"

	"fyne.io/fyne/v2"

	"paddock/assets"
	"paddock/library"
	"paddock/ui/vmctl"
)

// ShowVM opens one running library VM's window, with everything the library window's VM windows have (the
// clipboard channel when the VM's policy opens it, the sharing badge, typing the clipboard, the audit log, Eject
// ISO) but no library window: what `paddock start` and `paddock view NAME` show. It returns once the window is
// closed or the VM ends; the VM keeps running after a close.
func ShowVM(a fyne.App, ctl *vmctl.Controller, id string) error {
	a.SetIcon(assets.Icon())
	m := New(a, ctl, Options{onlyVM: id, NoDisplayOnStart: true})
	a.Run()
	m.Close()
	return m.onlyErr
}

// showOnlyVM opens the one VM's window once the first list has arrived, or ends the app saying why it cannot.
func (m *Manager) showOnlyVM() {
	if m.opts.onlyVM == "" || m.onlyOpened {
		return
	}
	m.onlyOpened = true
	vm, ok := m.vm(m.opts.onlyVM)
	switch {
	case !ok:
		m.endOnly(fmt.Errorf("no VM %q in the library", m.opts.onlyVM))
	case !vm.State.Active():
		m.endOnly(fmt.Errorf("%s: %w", vm.Name, vmctl.ErrNotRunning))
	default:
		m.openDisplay(vm)
	}
}

// endOnly ends a single-VM app, with err as its outcome.
func (m *Manager) endOnly(err error) {
	if m.onlyErr == nil {
		m.onlyErr = err
	}
	m.app.Quit()
}

// onlyWindowClosed ends a single-VM app when its window closes.
func (m *Manager) onlyWindowClosed(vm library.VM) {
	if m.opts.onlyVM == vm.ID {
		m.endOnly(nil)
	}
}
