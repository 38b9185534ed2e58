// Package vmctl starts, stops and watches the library's VMs: it turns a library record into a VMM process and
// keeps the record's state true to what the processes are doing. The command line and the manager window both
// use it, so a VM behaves the same whichever started it.
package vmctl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"paddock/engine/control"
	"paddock/engine/machine"
	"paddock/engine/virtio/scsi"
	"paddock/engine/vmm"
	"paddock/library"
	"paddock/sharing/shareserver"
	"paddock/ui/clikit"
)

// Files a VM's VMM keeps in the VM's directory.
const (
	SerialLogName = "serial.log"
	VMMLogName    = "vmm.log"
)

// Errors callers may test for.
var (
	ErrAlreadyRunning = errors.New("the VM is already running")
	ErrNotRunning     = errors.New("the VM is not running")
	ErrNothingToBoot  = errors.New("nothing to boot: the VM has no disk and no ISO; insert an installer ISO (paddock edit NAME --iso PATH) or add a disk")
)

// Controller acts on the VMs of one library.
type Controller struct {
	lib     *library.Library
	program string // the paddock executable, to start VMMs with
}

// New makes a controller; program is the paddock executable (os.Executable() in production).
func New(lib *library.Library, program string) *Controller {
	return &Controller{lib: lib, program: program}
}

// DefaultProgram is the program that runs VMs: the lean paddock-vmm beside this executable when it is installed,
// else this executable itself (which has a `vmm` command too).
func DefaultProgram() (string, error) {
	if lean, ok := clikit.Beside(clikit.LeanVMMName); ok {
		return lean, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the paddock program: %w", err)
	}
	return self, nil
}

// Library is the library the controller acts on.
func (c *Controller) Library() *library.Library { return c.lib }

// SocketPath is the control socket of a library VM: named by its id, which never changes.
func SocketPath(vm library.VM) string { return control.SocketPath(vm.ID) }

// Dial connects to a running library VM.
func Dial(vm library.VM) (*control.Client, error) {
	cl, err := control.Dial(SocketPath(vm))
	if errors.Is(err, control.ErrNotRunning) {
		return nil, fmt.Errorf("%s: %w", vm.Name, ErrNotRunning)
	}
	return cl, err
}

// dialRunning connects to the VM if it runs: a nil client and nil error mean it does not, so a change the
// library holds reaches it at its next start.
func dialRunning(vm library.VM) (*control.Client, error) {
	cl, err := Dial(vm)
	if errors.Is(err, ErrNotRunning) {
		return nil, nil
	}
	return cl, err
}

// Start starts the VM in its own VMM process and returns once it runs.
func (c *Controller) Start(ctx context.Context, ref string) (library.VM, error) {
	vm, err := c.Refresh(ctx, ref)
	if err != nil {
		return vm, err
	}
	if vm.State.Active() {
		return vm, fmt.Errorf("%s: %w", vm.Name, ErrAlreadyRunning)
	}
	spec, err := c.spec(vm)
	if err != nil {
		return vm, fmt.Errorf("%s: %w", vm.Name, err)
	}
	dir := c.lib.VMDir(vm.ID)
	if err := c.lib.SetState(ctx, vm.ID, library.StateStarting, ""); err != nil {
		return vm, err
	}
	conns, err := c.startShareServers(vm, &spec)
	defer closeFiles(conns)
	if err != nil {
		_ = c.lib.SetState(ctx, vm.ID, library.StateStopped, "")
		return vm, fmt.Errorf("start %s: %w", vm.Name, err)
	}
	if _, err := vmm.Start(c.program, spec, filepath.Join(dir, VMMLogName), conns...); err != nil {
		_ = c.lib.SetState(ctx, vm.ID, library.StateCrashed, err.Error())
		return vm, fmt.Errorf("start %s: %w", vm.Name, err)
	}
	if err := c.lib.SetState(ctx, vm.ID, library.StateRunning, ""); err != nil {
		return vm, err
	}
	return c.lib.GetVM(ctx, vm.ID)
}

// spec is what the VM's VMM runs: its kernel, or the firmware with its disks and ISO in the VM's boot order.
func (c *Controller) spec(vm library.VM) (vmm.Spec, error) {
	spec := vmm.Spec{
		Name: vm.ID, CPUs: vm.CPUs, MemoryMiB: vm.MemoryMiB, Screen: [2]int{vm.ScreenWidth, vm.ScreenHeight},
		SerialLog: filepath.Join(c.lib.VMDir(vm.ID), SerialLogName), Clipboard: string(vm.Sharing.Clipboard),
	}
	for _, d := range vm.Disks {
		spec.Disks = append(spec.Disks, machine.Disk{Path: d.Path, ReadOnly: d.ReadOnly})
	}
	if vm.Boot == library.BootDirect {
		spec.Kernel, spec.Initrd, spec.Cmdline = vm.Kernel, vm.Initrd, vm.Cmdline
		return spec, nil
	}
	if vm.ISO == "" && len(vm.Disks) == 0 {
		return spec, ErrNothingToBoot
	}
	fw, err := machine.FindFirmware()
	if err != nil {
		return spec, err
	}
	spec.Firmware, spec.ISO = fw, vm.ISO
	if vm.BootOrder != "" {
		spec.BootOrder = strings.Split(vm.BootOrder, ",")
	}
	return spec, nil
}

// ShareLogName is the log of a VM's share servers, in the VM's directory.
const ShareLogName = "shares.log"

// startShareServers starts one jailed share server per folder the library grants the VM and adds the shares to
// its spec; the returned connections go to the VMM (which keeps its own copies), the caller closes them. The
// servers end when the VMM does. A folder that is gone stops the start: the user must see it, not a guest with a
// share missing.
func (c *Controller) startShareServers(vm library.VM, spec *vmm.Spec) ([]*os.File, error) {
	var conns []*os.File
	for _, s := range vm.Shares {
		conn, err := spawnShareServer(c.lib, vm, s, c.program)
		if err != nil {
			return conns, err
		}
		conns = append(conns, conn)
		spec.Shares = append(spec.Shares, vmm.ShareSpec{Tag: s.Tag, HostDir: s.HostDir, ReadOnly: s.ReadOnly})
	}
	return conns, nil
}

// spawnShareServer starts the jailed server of one of the VM's shares, logging to the VM's shares.log, and returns
// the connection to hand the VMM. The server lives as long as the VMM holds its end.
func spawnShareServer(lib *library.Library, vm library.VM, s library.Share, program string) (*os.File, error) {
	logFile, err := os.OpenFile(filepath.Join(lib.VMDir(vm.ID), ShareLogName), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("share servers' log: %w", err)
	}
	defer logFile.Close()
	conn, proc, err := shareserver.Spawn(shareServerProgram(program),
		shareserver.Share{HostDir: s.HostDir, Tag: s.Tag, ReadOnly: s.ReadOnly}, logFile)
	if err != nil {
		return nil, fmt.Errorf("folder share %q (%s): %w", s.Tag, s.HostDir, err)
	}
	go func() { _, _ = proc.Wait() }()
	return conn, nil
}

// shareServerProgram is the program share servers run as: the lean paddock-vmm beside program when there is
// one, since only a build without cgo can confine every thread of the server on every kernel.
func shareServerProgram(program string) string {
	if filepath.Base(program) == clikit.LeanVMMName {
		return program
	}
	lean := filepath.Join(filepath.Dir(program), clikit.LeanVMMName)
	if st, err := os.Stat(lean); err == nil && st.Mode().IsRegular() {
		return lean
	}
	return program
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// Stop presses the VM's power button, or with force powers it off at once.
func (c *Controller) Stop(ctx context.Context, ref string, force bool) error {
	vm, err := c.Refresh(ctx, ref)
	if err != nil {
		return err
	}
	if !vm.State.Active() {
		return fmt.Errorf("%s: %w", vm.Name, ErrNotRunning)
	}
	cl, err := Dial(vm)
	if err != nil {
		return err
	}
	defer cl.Close()
	op := control.OpStop
	if force {
		op = control.OpPowerOff
	}
	if err := cl.Call(op, nil, nil); err != nil {
		return fmt.Errorf("%s: %w", vm.Name, err)
	}
	return c.lib.SetState(ctx, vm.ID, library.StateStopping, "")
}

// StartGrace is how long a VM recorded as starting is left as it is: another Paddock process may be starting it,
// and its VMM does not answer yet (vmm.Start gives up well within this).
const StartGrace = 30 * time.Second

// Refresh reads the VM and brings its recorded state up to date with its VMM: a VM recorded as active whose VMM
// no longer answers has stopped, or crashed if its VMM's log says so (or says nothing of a clean end).
func (c *Controller) Refresh(ctx context.Context, ref string) (library.VM, error) {
	vm, err := c.lib.GetVM(ctx, ref)
	if err != nil || !vm.State.Active() {
		return vm, err
	}
	if vm.State == library.StateStarting && time.Since(vm.StateChanged) < StartGrace {
		return vm, nil
	}
	if alive, vmmState := c.alive(vm); alive {
		return c.followPause(ctx, vm, vmmState)
	}
	state, why := c.lastOutcome(vm)
	if err := c.lib.SetState(ctx, vm.ID, state, why); err != nil {
		return vm, err
	}
	c.clearTransientShares(ctx, vm)
	return c.lib.GetVM(ctx, vm.ID)
}

// alive says whether the VM's VMM still runs it. Only a socket nobody listens on (twice, a moment apart) or a
// VMM that says its guest has ended counts as gone: a busy host that answers slowly must not make a running VM
// look crashed.
func (c *Controller) alive(vm library.VM) (bool, string) {
	for attempt := 0; attempt < 2; attempt++ {
		if attempt > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		cl, err := Dial(vm)
		if err != nil {
			if errors.Is(err, ErrNotRunning) {
				continue
			}
			return true, "" // cannot tell; keep the record as it is
		}
		var st control.Status
		err = cl.Call(control.OpStatus, nil, &st)
		cl.Close()
		switch {
		case err == nil:
			return st.State != control.StateStopped && st.State != control.StateCrashed, st.State
		case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
			continue // it hung up: it may be going away
		default:
			return true, ""
		}
	}
	return false, ""
}

// followPause records a running VM as paused, or running again, as its VMM says (whoever paused it).
func (c *Controller) followPause(ctx context.Context, vm library.VM, vmmState string) (library.VM, error) {
	var want library.State
	switch {
	case vmmState == control.StatePaused && vm.State == library.StateRunning:
		want = library.StatePaused
	case vmmState == control.StateRunning && vm.State == library.StatePaused:
		want = library.StateRunning
	default:
		return vm, nil
	}
	if err := c.lib.SetState(ctx, vm.ID, want, ""); err != nil {
		return vm, err
	}
	return c.lib.GetVM(ctx, vm.ID)
}

// Pause holds the VM's vCPUs (resume with Resume); its devices and window stay.
func (c *Controller) Pause(ctx context.Context, ref string) (library.VM, error) {
	return c.pauseOrResume(ctx, ref, control.OpPause)
}

// Resume lets a paused VM run again.
func (c *Controller) Resume(ctx context.Context, ref string) (library.VM, error) {
	return c.pauseOrResume(ctx, ref, control.OpResume)
}

func (c *Controller) pauseOrResume(ctx context.Context, ref, op string) (library.VM, error) {
	vm, err := c.Refresh(ctx, ref)
	if err != nil {
		return vm, err
	}
	if !vm.State.Active() {
		return vm, fmt.Errorf("%s: %w", vm.Name, ErrNotRunning)
	}
	cl, err := Dial(vm)
	if err != nil {
		return vm, err
	}
	defer cl.Close()
	var st control.Status
	if err := cl.Call(op, nil, &st); err != nil {
		return vm, fmt.Errorf("%s: %w", vm.Name, err)
	}
	return c.followPause(ctx, vm, st.State)
}

// List reads every VM, refreshed.
func (c *Controller) List(ctx context.Context) ([]library.VM, error) {
	vms, err := c.lib.ListVMs(ctx)
	if err != nil {
		return nil, err
	}
	for i, vm := range vms {
		if vm.State.Active() {
			if vms[i], err = c.Refresh(ctx, vm.ID); err != nil {
				return nil, err
			}
		}
	}
	return vms, nil
}

// lastOutcome reads how the VM's last VMM run ended from its log.
func (c *Controller) lastOutcome(vm library.VM) (library.State, string) {
	f, err := os.Open(filepath.Join(c.lib.VMDir(vm.ID), VMMLogName))
	if err != nil {
		return library.StateCrashed, "the VM's process ended and left no log"
	}
	defer f.Close()
	state, why := library.StateCrashed, "the VM's process ended unexpectedly"
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, `msg="VM running"`):
			state, why = library.StateCrashed, "the VM's process ended unexpectedly"
		case strings.Contains(line, `msg="VM ended"`):
			state, why = library.StateStopped, ""
		case strings.Contains(line, `msg="VM stopped with an error"`), strings.Contains(line, `msg="cannot start the VM"`),
			strings.Contains(line, `msg="`+vmm.ProcessEndedMsg+`"`):
			state, why = library.StateCrashed, logField(line, "err")
		}
	}
	return state, why
}

// logField extracts key's value from a log line written by slog's text handler (quoted when it has spaces).
func logField(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return line
	}
	v := line[i+len(key)+2:]
	if q, err := strconv.QuotedPrefix(v); err == nil {
		if s, err := strconv.Unquote(q); err == nil {
			return s
		}
	}
	if sp := strings.IndexByte(v, ' '); sp >= 0 {
		return v[:sp]
	}
	return v
}

// ChangeMedia puts the ISO at path in the running VM's CD-ROM drive, or with path "" ejects it; the caller
// records the change in the library. A VM that is not running needs nothing: it starts with the library's ISO.
func ChangeMedia(vm library.VM, path string) error {
	cl, err := dialRunning(vm)
	if cl == nil {
		return err
	}
	defer cl.Close()
	if path == "" {
		_, err = cl.ChangeMedia(nil, "")
		return err
	}
	f, err := scsi.OpenImage(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = cl.ChangeMedia(f, path)
	return err
}
