package machine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"paddock/display"
	"paddock/engine/bus"
	"paddock/engine/control"
	"paddock/engine/guestmem"
	"paddock/engine/kernelcache"
	"paddock/engine/kvm"
	"paddock/engine/virtio/blk"
	"paddock/engine/virtio/input"
	"paddock/engine/virtio/scsi"
	"paddock/engine/x86"
)

// Outcome is how a run ended without an engine failure.
type Outcome int

// Outcomes.
const (
	PoweredOff Outcome = iota // the guest powered off (ACPI S5) or was powered off from outside
	Rebooted                  // the guest reset and Config.NoReboot was set
)

func (o Outcome) String() string {
	if o == Rebooted {
		return "rebooted"
	}
	return "powered off"
}

type event int

const (
	eventNone event = iota
	eventPowerOff
	eventReset
	eventFailure
)

// Machine is one VM across its whole life, reboots included.
type Machine struct {
	cfg   Config
	log   *slog.Logger
	sys   *kvm.System
	accel kvm.Accel
	model string
	cpuid []kvm.CPUIDEntry

	kernel   []byte
	initrd   []byte
	firmware []byte // the BIOS image, for a firmware boot (Config.usesFirmware)
	vgaROM   []byte // the ramfb VGA BIOS the firmware runs to draw its screen; nil without one
	// disks are opened and locked once; each boot's devices get their own descriptor of the same open file,
	// so a reboot opens nothing (the VMM may be sandboxed by then).
	disks []*os.File
	iso   *os.File // the CD-ROM's image, opened once like the disks

	legacy *legacyDevices // devices whose state outlives a guest reset (CMOS RAM, the serial line)
	fb     *display.Framebuffer

	mu      sync.Mutex
	state   string
	lastErr string
	started time.Time
	boots   int
	cur     *boot
	stopReq atomic.Bool // a forced power-off was asked for
	sandbox string      // how the process is confined, for status
	clip    agentLink   // the clipboard channel (clipboard.go)

	bootWatch bootWatch // what the firmware says of its boot attempts
	pause     pauseGate // holds the vCPUs while the VM is paused
}

// SetSandbox records how the VM's process is confined, for status reports.
func (m *Machine) SetSandbox(desc string) {
	m.mu.Lock()
	m.sandbox = desc
	m.mu.Unlock()
}

// New checks the configuration, opens KVM and reads the kernel and initrd. It does not start the guest.
func New(cfg Config, log *slog.Logger) (*Machine, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sys, err := OpenKVM(cfg.KVMPath)
	if err != nil {
		return nil, err
	}
	m := &Machine{cfg: cfg, log: log, sys: sys, accel: kvm.DetectAccel(), state: control.StateStarting}
	if err := m.prepare(); err != nil {
		m.closeDisks()
		if m.fb != nil {
			m.fb.Close()
		}
		sys.Close()
		return nil, err
	}
	return m, nil
}

// OpenKVM opens the KVM device and explains the usual reasons it cannot be opened.
func OpenKVM(path string) (*kvm.System, error) {
	sys, err := kvm.Open(path)
	switch {
	case err == nil:
		return sys, nil
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("%s does not exist: this host has no KVM (enable virtualization in the firmware and load kvm_intel or kvm_amd)", path)
	case errors.Is(err, os.ErrPermission):
		return nil, fmt.Errorf("no permission to open %s: add your user to the kvm group (sudo usermod -aG kvm $USER) and log in again", path)
	default:
		return nil, err
	}
}

func (m *Machine) prepare() error {
	var err error
	// Firmware boot: read the image instead of a kernel.
	if m.cfg.usesFirmware() {
		if m.firmware, err = readFirmware(m.cfg.Firmware); err != nil {
			return err
		}
		m.vgaROM = readVGAROM(m.cfg.Firmware, m.log)
	} else if err := m.prepareKernel(); err != nil {
		return err
	}
	return m.prepareMachine()
}

// prepareKernel reads the kernel and initrd of a direct boot.
func (m *Machine) prepareKernel() error {
	var err error
	if m.kernel, err = os.ReadFile(m.cfg.Kernel); err != nil {
		return fmt.Errorf("read kernel: %w", err)
	}
	if err := x86.CheckKernel(m.kernel); err != nil {
		return fmt.Errorf("kernel %s: %w", m.cfg.Kernel, err)
	}
	// A bzImage carries its kernel compressed; unpacking it here (once, then from the cache) spares the guest its
	// own decompressor, which is slow without hardware virtualization and costs start-up time with it.
	if vmlinux, ok, err := kernelcache.Open(m.log).Vmlinux(m.kernel); err != nil {
		m.log.Warn("the kernel's compressed payload is unreadable; booting the bzImage as it is", "kernel", m.cfg.Kernel, "err", err)
	} else if ok {
		m.kernel = vmlinux
	}
	if m.cfg.Initrd != "" {
		if m.initrd, err = os.ReadFile(m.cfg.Initrd); err != nil {
			return fmt.Errorf("read initrd: %w", err)
		}
	}
	return nil
}

// prepareMachine resolves the CPU model, opens the disks and makes the framebuffer.
func (m *Machine) prepareMachine() error {
	var err error
	m.model = m.cfg.CPUModel
	if m.model == CPUModelAuto {
		m.model = CPUModelHost
		if !m.accel.Hardware {
			m.model = CPUModelBaseline
		}
	}
	if m.cpuid, err = m.sys.SupportedCPUID(); err != nil {
		return err
	}
	if max := m.sys.CheckExtension(kvm.CapMaxVCPUs); max > 0 && m.cfg.CPUs > max {
		return fmt.Errorf("--cpus %d: KVM on this host allows at most %d", m.cfg.CPUs, max)
	}
	for _, d := range m.cfg.Disks {
		f, err := blk.OpenImage(d.Path, d.ReadOnly)
		if err != nil {
			return fmt.Errorf("disk %s: %w", d.Path, err)
		}
		m.disks = append(m.disks, f)
	}
	if m.cfg.ISO != "" {
		if m.iso, err = scsi.OpenImage(m.cfg.ISO); err != nil {
			return fmt.Errorf("ISO %s: %w", m.cfg.ISO, err)
		}
	}
	mode, err := m.cfg.screenMode()
	if err != nil {
		return err
	}
	if m.fb, err = display.NewFramebuffer(mode); err != nil {
		return err
	}
	m.legacy = newLegacyDevices(m)
	return nil
}

// Accel says what kind of KVM runs the guest.
func (m *Machine) Accel() kvm.Accel { return m.accel }

// CPUModel is the CPU model in effect (auto resolved).
func (m *Machine) CPUModel() string { return m.model }

// Close releases KVM. Call it after Run returns.
func (m *Machine) Close() error {
	m.legacy.close()
	m.closeDisks()
	m.fb.Close()
	return m.sys.Close()
}

func (m *Machine) closeDisks() {
	for _, f := range m.disks {
		f.Close()
	}
	m.disks = nil
	if m.iso != nil {
		m.iso.Close()
		m.iso = nil
	}
}

// Run boots the guest and blocks until it powers off, resets with NoReboot, fails, or ctx ends (a forced power
// off). A guest reset without NoReboot boots it again.
func (m *Machine) Run(ctx context.Context) (Outcome, error) {
	m.mu.Lock()
	m.started = time.Now()
	m.mu.Unlock()
	for {
		b, err := m.newBoot()
		if err != nil {
			m.setState(control.StateCrashed, err)
			return PoweredOff, err
		}
		m.mu.Lock()
		m.boots++
		m.cur = b
		m.state = control.StateRunning
		if m.paused() { // a reboot while paused stays paused
			m.state = control.StatePaused
		}
		missed := b.cd != nil && b.cdSource != m.iso
		m.mu.Unlock()
		if missed {
			m.catchUpMedia(b)
		}

		ev, err := b.run(ctx)
		// Nobody may reach this boot's VM (dirty log, pointer) once its resources start going away.
		m.mu.Lock()
		m.cur = nil
		m.mu.Unlock()
		b.close()

		switch {
		case ev == eventFailure:
			m.setState(control.StateCrashed, err)
			return PoweredOff, err
		case ev == eventReset && !m.stopReq.Load() && ctx.Err() == nil:
			if m.cfg.NoReboot {
				m.setState(control.StateStopped, nil)
				return Rebooted, nil
			}
			m.log.Info("guest reset: booting again")
			m.legacy.reset()
			continue
		default:
			m.setState(control.StateStopped, nil)
			return PoweredOff, nil
		}
	}
}

func (m *Machine) setState(s string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state = s
	if err != nil {
		m.lastErr = err.Error()
	}
}

// PowerButton presses the ACPI power button; a guest that listens shuts down cleanly.
func (m *Machine) PowerButton() error {
	m.mu.Lock()
	running, paused := m.cur != nil, m.paused()
	if running && !paused {
		m.state = control.StateStopping
	}
	m.mu.Unlock()
	if !running {
		return errNotRunning
	}
	if paused {
		return errPaused
	}
	m.legacy.pressPowerButton()
	return nil
}

// PowerOff ends the guest at once, like pulling the plug.
func (m *Machine) PowerOff() {
	m.stopReq.Store(true)
	m.mu.Lock()
	b := m.cur
	m.mu.Unlock()
	if b != nil {
		b.finish(eventPowerOff, nil)
	}
}

// SerialInput feeds bytes to the guest's COM1, as typed on its console.
func (m *Machine) SerialInput(p []byte) { m.legacy.serialInput(p) }

// Status reports the VM's state for `paddock status`.
func (m *Machine) Status() control.Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := control.Status{
		Name: m.cfg.Name, State: m.state, PID: os.Getpid(), VCPUs: m.cfg.CPUs, MemoryMiB: m.cfg.MemoryMiB,
		CPUModel: m.model, Boots: m.boots, Error: m.lastErr, Sandbox: m.sandbox,
	}
	if !m.started.IsZero() {
		st.UptimeSeconds = time.Since(m.started).Seconds()
	}
	if m.hasDrive() {
		st.CDROM = "(empty)"
		if m.iso != nil {
			st.CDROM = m.iso.Name()
		}
	}
	st.Boot = m.bootWatch.String()
	return st
}

// Handle serves the control protocol for this VM.
func (m *Machine) Handle(op string, args json.RawMessage) (any, error) {
	switch op {
	case control.OpStatus:
		return m.Status(), nil
	case control.OpStop:
		if err := m.PowerButton(); err != nil {
			return nil, err
		}
		return m.Status(), nil
	case control.OpPowerOff:
		m.PowerOff()
		return m.Status(), nil
	case control.OpPause:
		if err := m.Pause(); err != nil {
			return nil, err
		}
		return m.Status(), nil
	case control.OpResume:
		if err := m.Resume(); err != nil {
			return nil, err
		}
		return m.Status(), nil
	case control.OpScreenshot:
		png, err := m.ScreenshotPNG()
		if err != nil {
			return nil, err
		}
		mode := m.fb.Mode()
		return control.Screenshot{Width: mode.Width, Height: mode.Height, PNG: png}, nil
	case control.OpSendKeys:
		var a control.SendKeysArgs
		if err := decodeArgs(args, &a); err != nil {
			return nil, err
		}
		events, err := keyEvents(a)
		if err != nil {
			return nil, err
		}
		return nil, m.TypeKeys(events)
	case control.OpPointer:
		var a control.PointerArgs
		if err := decodeArgs(args, &a); err != nil {
			return nil, err
		}
		return nil, m.pointerCommand(a)
	case control.OpFramebuffer:
		mode := m.fb.Mode()
		info := control.FramebufferInfo{Width: mode.Width, Height: mode.Height, Stride: mode.Stride}
		return control.WithFDs{Result: info, FDs: []int{m.fb.Fd()}}, nil
	case control.OpDirtyPages:
		bm := make([]uint64, (len(m.fb.Memory())/pageSize+63)/64)
		if err := m.DirtyPages(bm); err != nil {
			return nil, err
		}
		return control.DirtyPages{Bitmap: bm}, nil
	case control.OpKey:
		var a control.KeyArgs
		if err := decodeArgs(args, &a); err != nil {
			return nil, err
		}
		return nil, m.Key(display.Key(a.Key), a.Down)
	case control.OpSerialInput:
		var a control.SerialInput
		if err := decodeArgs(args, &a); err != nil {
			return nil, err
		}
		if len(a.Data) > control.MaxSerialInput {
			return nil, fmt.Errorf("%d bytes of serial input at once, at most %d", len(a.Data), control.MaxSerialInput)
		}
		m.SerialInput(a.Data)
		return nil, nil
	case control.OpPointerState:
		var a control.PointerState
		if err := decodeArgs(args, &a); err != nil {
			return nil, err
		}
		return nil, m.Pointer(display.PointerState{X: a.X, Y: a.Y, Buttons: display.Buttons(a.Buttons), Wheel: a.Wheel})
	case control.OpRevokeShare:
		return m.handleRevokeShare(args)
	case control.OpShares:
		return m.Shares(), nil
	case control.OpChangeMedia:
		if err := m.ChangeMedia(nil); err != nil {
			return nil, err
		}
		return control.Media{}, nil
	}
	if res, ok, err := m.handleClipboard(op, args); ok {
		return res, err
	}
	return nil, fmt.Errorf("%w %q", control.ErrUnknownOp, op)
}

func decodeArgs(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return errors.New("missing arguments")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("bad arguments: %w", err)
	}
	return nil
}

// keyEvents turns send-keys arguments into key events: each combination pressed and released in turn, or text.
func keyEvents(a control.SendKeysArgs) ([]display.KeyEvent, error) {
	if (len(a.Keys) == 0) == (a.Text == "") {
		return nil, errors.New("give either keys or text")
	}
	if a.Text != "" {
		return display.TextEvents(a.Text)
	}
	var events []display.KeyEvent
	for _, combo := range a.Keys {
		keys, err := display.ParseCombo(combo)
		if err != nil {
			return nil, err
		}
		events = append(events, display.ComboEvents(keys)...)
	}
	return events, nil
}

// pointerCommand moves the pointer and, if asked, clicks or turns the wheel there.
func (m *Machine) pointerCommand(a control.PointerArgs) error {
	mode := m.fb.Mode()
	if a.X < 0 || a.Y < 0 || a.X >= mode.Width || a.Y >= mode.Height {
		return fmt.Errorf("position %d,%d is outside the %dx%d screen", a.X, a.Y, mode.Width, mode.Height)
	}
	p := display.PointerState{X: a.X, Y: a.Y}
	if err := m.Pointer(p); err != nil {
		return err
	}
	if a.Wheel != 0 {
		p.Wheel = a.Wheel
		if err := m.Pointer(p); err != nil {
			return err
		}
		p.Wheel = 0
	}
	if a.Click == "" {
		return nil
	}
	button, ok := map[string]display.Buttons{"left": display.ButtonLeft, "right": display.ButtonRight, "middle": display.ButtonMiddle}[a.Click]
	if !ok {
		return fmt.Errorf("no button %q: use left, right or middle", a.Click)
	}
	p.Buttons = button
	if err := m.Pointer(p); err != nil {
		return err
	}
	p.Buttons = 0
	return m.Pointer(p)
}

// boot is one power-on of the guest: a fresh KVM VM, RAM and devices. A reset throws it away and builds another.
type boot struct {
	m    *Machine
	log  *slog.Logger
	vm   *kvm.VM
	mem  *guestmem.Memory
	pio  *bus.Bus
	mmio *bus.Bus

	fbSlot   uint32
	tablet   *input.Tablet
	cd       *scsi.Device // the CD-ROM drive, or nil
	cdSource *os.File     // the machine's image this boot's drive was given (Machine.iso then)
	ramfb    *ramfbScreen // firmware boot: the firmware's screen, drawn on the framebuffer (ramfb.go)
	// PCI slots of the disks (in order) and of the CD-ROM (-1 for none), for the firmware's boot order.
	diskSlots []int
	cdSlot    int

	vcpus   []*vcpuThread
	closers []func() error
	// use is held (shared) by callers from outside the vCPU loop (dirty log, pointer) while they touch the boot's
	// VM and devices, and (exclusively) by close, so nothing reaches a closed descriptor.
	use           sync.RWMutex
	closed        bool
	seenUnclaimed sync.Map

	stopping atomic.Bool
	once     sync.Once
	events   chan outcomeEvent
}

type outcomeEvent struct {
	ev  event
	err error
}

// finish ends this boot with the first event reported; later ones are ignored.
func (b *boot) finish(ev event, err error) {
	b.once.Do(func() {
		b.stopping.Store(true)
		b.events <- outcomeEvent{ev, err}
	})
}

// run starts the vCPUs and waits for the boot to end.
func (b *boot) run(ctx context.Context) (event, error) {
	for _, t := range b.vcpus {
		go b.runVCPU(t)
	}
	var out outcomeEvent
	select {
	case out = <-b.events:
	case <-ctx.Done():
		b.finish(eventPowerOff, nil)
		out = <-b.events
	}
	for _, t := range b.vcpus {
		t.stop()
	}
	return out.ev, out.err
}

// close releases everything the boot created, in reverse order.
func (b *boot) close() {
	b.use.Lock()
	b.closed = true
	b.use.Unlock()
	for i := len(b.closers) - 1; i >= 0; i-- {
		if err := b.closers[i](); err != nil {
			b.log.Warn("releasing VM resource failed", "err", err)
		}
	}
}

// errNotRunning is returned to callers that need a running guest.
var errNotRunning = errors.New("the VM is not running")

// withBoot runs f on the current boot, kept open until f returns.
func (m *Machine) withBoot(f func(b *boot) error) error {
	m.mu.Lock()
	b := m.cur
	m.mu.Unlock()
	if b == nil {
		return errNotRunning
	}
	b.use.RLock()
	defer b.use.RUnlock()
	if b.closed {
		return errNotRunning
	}
	return f(b)
}

func (b *boot) onClose(f func() error) { b.closers = append(b.closers, f) }
