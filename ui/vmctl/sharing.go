package vmctl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"paddock/engine/control"
	"paddock/library"
	"paddock/sharing/clipboard"
)

// Sharing: the library holds each VM's policy; these functions carry it to the VM's running VMM and run the host
// side of the clipboard channel. The process that calls RunClipboard owns the host clipboard: the policy is
// applied there, before anything crosses.

// ApplySharing pushes the VM's sharing settings from the library to its running VMM: the clipboard mode (off
// removes the guest's agent port and ends any open agent channel at once). A VM that is not running needs
// nothing: its VMM gets the settings in its spec at start. The settings are read afresh from the library.
func ApplySharing(ctx context.Context, lib *library.Library, vm library.VM) error {
	vm, err := lib.GetVM(ctx, vm.ID)
	if err != nil {
		return err
	}
	cl, err := dialRunning(vm)
	if cl == nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.SetClipboard(string(vm.Sharing.Clipboard)); err != nil {
		return fmt.Errorf("%s: applying the clipboard setting: %w", vm.Name, err)
	}
	return syncShares(lib, cl, vm)
}

// syncShares brings the running VM's folder shares in step with the library: a share withdrawn (removed, or made
// read-only) is revoked at once; a share granted that the VM does not serve gets a new share server, which the VM
// offers from the guest's next boot (a virtio device cannot appear in a running guest).
func syncShares(lib *library.Library, cl *control.Client, vm library.VM) error {
	served, err := cl.Shares()
	if err != nil {
		return fmt.Errorf("%s: listing its folder shares: %w", vm.Name, err)
	}
	granted := map[string]library.Share{}
	for _, s := range vm.Shares {
		granted[s.Tag] = s
	}
	serving := map[string]bool{}
	for _, s := range served {
		g, ok := granted[s.Tag]
		if s.Revoked {
			continue
		}
		if ok && (g.ReadOnly || !s.ReadOnly) {
			serving[s.Tag] = true
			continue
		}
		if err := cl.RevokeShare(s.Tag); err != nil {
			return fmt.Errorf("%s: revoking the share %q: %w", vm.Name, s.Tag, err)
		}
	}
	for _, s := range vm.Shares {
		if serving[s.Tag] {
			continue
		}
		program, err := DefaultProgram()
		if err != nil {
			return err
		}
		conn, err := spawnShareServer(lib, vm, s, program)
		if err != nil {
			return fmt.Errorf("%s: %w", vm.Name, err)
		}
		err = cl.AddShare(s.Tag, s.ReadOnly, conn)
		conn.Close()
		if err != nil {
			return fmt.Errorf("%s: adding the share %q: %w", vm.Name, s.Tag, err)
		}
	}
	return nil
}

// ClipboardConfig is what RunClipboardWith needs besides the VM.
type ClipboardConfig struct {
	Host  clipboard.HostClipboard // the host clipboard (the GUI's); required
	Asker clipboard.Asker         // asks the user when the policy says so; nil denies those crossings
	// OnBridge, if set, is called with each bridge when its channel opens and with nil when it closes, so a
	// window can offer "send to guest" / "get from guest" (Bridge.SendHostClipboard, RequestFromGuest) and a
	// badge while a channel is open.
	OnBridge func(*clipboard.Bridge)
	Log      *slog.Logger
	// PollInterval is how often the library's policy is re-read; 0 means one second.
	PollInterval time.Duration
}

// RunClipboard runs the VM's clipboard channel until ctx ends or the VM stops: while the VM's clipboard mode is
// not off it holds the VM's agent channel and serves paddock-agent in the guest through a clipboard.Bridge with
// the library's policy, asker and audit log; policy changes in the library apply within a second. It returns nil
// when ctx ends, ErrNotRunning once the VM is not running.
func RunClipboard(ctx context.Context, lib *library.Library, vm library.VM, host clipboard.HostClipboard, asker clipboard.Asker) error {
	return RunClipboardWith(ctx, lib, vm, ClipboardConfig{Host: host, Asker: asker})
}

// RunClipboardWith is RunClipboard with more to say.
func RunClipboardWith(ctx context.Context, lib *library.Library, vm library.VM, cfg ClipboardConfig) error {
	if cfg.Host == nil {
		return errors.New("clipboard: no host clipboard")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	for {
		vm, err := lib.GetVM(ctx, vm.ID)
		if err != nil {
			return err
		}
		if vm.Sharing.Clipboard != library.ClipboardOff {
			err = runChannel(ctx, lib, vm, cfg)
			if errors.Is(err, ErrNotRunning) {
				return err
			}
			if err != nil && ctx.Err() == nil {
				cfg.Log.Warn("clipboard channel ended", "vm", vm.Name, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(cfg.PollInterval):
		}
	}
}

// runChannel holds one agent channel until it ends: the guest program closed its port, the mode went off, the VM
// rebooted or stopped, or ctx ended.
func runChannel(ctx context.Context, lib *library.Library, vm library.VM, cfg ClipboardConfig) error {
	cl, err := Dial(vm)
	if err != nil {
		return err
	}
	conn, _, err := cl.AgentChannel()
	cl.Close()
	if err != nil {
		var re *control.RemoteError
		if errors.As(err, &re) && re.Msg == control.ErrClipboardOff.Error() {
			// The library says on and the VMM off: the VMM was started before the change reached it.
			return ApplySharing(ctx, lib, vm)
		}
		return fmt.Errorf("opening the agent channel: %w", err)
	}
	b, err := clipboard.New(conn, clipboard.Config{VMID: vm.ID, VMName: vm.Name, Policy: vm.Sharing, Host: cfg.Host,
		Asker: cfg.Asker, Auditor: lib, Log: cfg.Log})
	if err != nil {
		conn.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	if cfg.OnBridge != nil {
		cfg.OnBridge(b)
		defer cfg.OnBridge(nil)
	}
	tick := time.NewTicker(cfg.PollInterval)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			conn.Close()
			return err
		case <-ctx.Done():
			conn.Close() // ends the bridge's pending read
			<-done
			return nil
		case <-tick.C:
			cur, err := lib.GetVM(ctx, vm.ID)
			if err != nil {
				continue
			}
			b.SetPolicy(cur.Sharing)
			if cur.Sharing.Clipboard == library.ClipboardOff {
				conn.Close()
				<-done
				return nil
			}
		}
	}
}

// clearTransientShares removes the VM's shares kept only until it powers off; called when its VMM is found gone.
func (c *Controller) clearTransientShares(ctx context.Context, vm library.VM) {
	if err := c.lib.ClearTransientShares(ctx, vm.ID); err != nil && !errors.Is(err, library.ErrNotFound) {
		slog.Warn("clearing transient shares", "vm", vm.Name, "err", err)
	}
}
