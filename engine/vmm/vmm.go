// Package vmm runs one VM in a process of its own, the way library VMs run: `paddock vmm --spec FD` reads a
// complete, immutable Spec from an inherited descriptor, opens what the VM needs, serves the control socket,
// sandboxes itself and runs the guest until it powers off. It never opens the library.
package vmm

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"paddock/engine/control"
	"paddock/engine/jail"
	"paddock/engine/machine"
)

// SpecVersion is the Spec format this build reads.
const SpecVersion = 1

// maxSpec bounds the spec a VMM reads, so a broken parent cannot make it buffer without end.
const maxSpec = 1 << 20

// Spec is everything a VMM needs to run one VM.
type Spec struct {
	Version   int            `json:"version"`
	Name      string         `json:"name"` // the control socket's name
	Kernel    string         `json:"kernel"`
	Initrd    string         `json:"initrd,omitempty"`
	Cmdline   string         `json:"cmdline,omitempty"`
	CPUs      int            `json:"cpus"`
	MemoryMiB int            `json:"memory_mib"`
	Disks     []machine.Disk `json:"disks,omitempty"`
	CPUModel  string         `json:"cpu_model,omitempty"`
	Screen    [2]int         `json:"screen,omitempty"` // width, height; zero for the default
	NoReboot  bool           `json:"no_reboot,omitempty"`
	// Firmware boot (no Kernel): the BIOS image, the CD-ROM's ISO and the boot order ("disk", "cdrom").
	Firmware  string   `json:"firmware,omitempty"`
	ISO       string   `json:"iso,omitempty"`
	BootOrder []string `json:"boot_order,omitempty"`
	// SerialLog is the file the guest's serial console is appended to.
	SerialLog string `json:"serial_log,omitempty"`
	// Shares are the folder shares; their connections come as descriptors (see Start).
	Shares []ShareSpec `json:"shares,omitempty"`
	// Clipboard is the clipboard mode at start (control.ClipboardOff... ; "" is off): any but off gives the
	// guest the agent port. control.OpSetClipboard changes it while the VM runs.
	Clipboard string `json:"clipboard,omitempty"`
}

// Main is `paddock vmm --spec FD`. It returns the process exit status: 0 when the guest powered off.
func Main(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	specFD := fs.Int("spec", -1, "descriptor to read the VM spec (JSON) from")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	spec, err := readSpec(*specFD)
	if err != nil {
		log.Error("cannot start the VM", "err", err)
		return 1
	}
	if err := run(spec, log); err != nil {
		log.Error("VM stopped with an error", "vm", spec.Name, "err", err)
		return 1
	}
	return 0
}

func readSpec(fd int) (Spec, error) {
	var spec Spec
	if fd < 3 {
		return spec, errors.New("--spec needs the descriptor the spec is passed on")
	}
	f := os.NewFile(uintptr(fd), "spec")
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxSpec+1))
	if err != nil {
		return spec, fmt.Errorf("read spec: %w", err)
	}
	if len(raw) > maxSpec {
		return spec, fmt.Errorf("spec longer than %d bytes", maxSpec)
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		return spec, fmt.Errorf("spec: %w", err)
	}
	if spec.Version != SpecVersion {
		return spec, fmt.Errorf("spec version %d, this VMM reads %d", spec.Version, SpecVersion)
	}
	return spec, nil
}

func run(spec Spec, log *slog.Logger) error {
	cfg := machine.Config{
		Name: spec.Name, Kernel: spec.Kernel, Initrd: spec.Initrd, Cmdline: spec.Cmdline, CPUs: spec.CPUs,
		MemoryMiB: spec.MemoryMiB, Disks: spec.Disks, CPUModel: spec.CPUModel, NoReboot: spec.NoReboot,
		ScreenWidth: spec.Screen[0], ScreenHeight: spec.Screen[1],
		Firmware: spec.Firmware, ISO: spec.ISO, BootOrder: spec.BootOrder,
	}
	if spec.Name == "" {
		return errors.New("spec has no name")
	}
	shares, err := inheritShares(spec.Shares)
	defer closeShares(shares)
	if err != nil {
		return err
	}
	cfg.Shares = shares
	if spec.SerialLog != "" {
		f, err := os.OpenFile(spec.SerialLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("serial log: %w", err)
		}
		defer f.Close()
		cfg.Console = f
	}
	m, err := machine.New(cfg, log)
	if err != nil {
		return err
	}
	defer m.Close()
	if spec.Clipboard != "" {
		if err := m.SetClipboard(spec.Clipboard); err != nil {
			return err
		}
	}
	if _, err := control.EnsureSocketDir(); err != nil {
		return err
	}
	srv, err := control.Listen(control.SocketPath(spec.Name), m, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	rep, err := jail.Apply(jail.Policy{})
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	m.SetSandbox(rep.String())
	log.Info("VM running", "vm", spec.Name, "pid", os.Getpid(), "sandbox", rep.String())
	outcome, err := m.Run(ctx)
	if err != nil {
		return err
	}
	log.Info("VM ended", "vm", spec.Name, "outcome", outcome.String())
	return nil
}
