// Package runcmd is the `paddock run` command. It carries no GUI toolkit and no database, so the lean VMM program
// (paddock-vmm) runs it too: that program starts faster, is smaller in memory and can be sandboxed completely.
package runcmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"paddock/engine/control"
	"paddock/engine/jail"
	"paddock/engine/machine"
	"paddock/ui/clikit"
)

// Run is `paddock run`: an ad-hoc VM in the foreground, in this process, sandboxed once it is set up.
func Run(env clikit.Env, args []string) error {
	fs := clikit.NewFlagSet(env, "run", "(--kernel PATH [--initrd PATH] [--append CMDLINE] | --iso PATH | --disk PATH) [OPTIONS]")
	var cfg machine.Config
	var disks clikit.DiskFlags
	fs.StringVar(&cfg.Kernel, "kernel", "", "Linux `bzImage` or ELF vmlinux to boot")
	fs.StringVar(&cfg.Firmware, "firmware", "", "BIOS `image` to boot through (default with --iso or --disk and no --kernel: Debian's SeaBIOS)")
	fs.StringVar(&cfg.ISO, "iso", "", "put this `ISO` image in a CD-ROM drive (virtio-scsi)")
	bootOrder := fs.String("boot", "", "firmware boot `order`: disk,cdrom (the default) or cdrom,disk")
	fs.StringVar(&cfg.Initrd, "initrd", "", "initial ramdisk `file`")
	fs.StringVar(&cfg.Cmdline, "append", "console=ttyS0", "kernel command `line`")
	fs.IntVar(&cfg.CPUs, "cpus", 1, "number of virtual CPUs")
	fs.IntVar(&cfg.MemoryMiB, "memory", 512, "guest memory in `MiB`")
	fs.Var(&disks, "disk", "raw disk image `PATH[,ro]` (repeatable)")
	serial := fs.String("serial", "stdio", "where COM1 goes: stdio, none, or a `FILE`")
	fs.BoolVar(&cfg.NoReboot, "no-reboot", false, "exit when the guest reboots instead of restarting it")
	fs.StringVar(&cfg.Name, "name", "", "make the VM reachable as `NAME` (paddock status/stop NAME)")
	resolution := fs.String("resolution", "", "guest screen size `WxH` (default: fits the host display, or 1024x768)")
	displayMode := fs.String("display", "none", "show the guest's screen: window, or none")
	noSandbox := fs.Bool("no-sandbox", false, "do not confine the VM's process after set-up (for debugging the engine)")
	fs.StringVar(&cfg.CPUModel, "cpu", "", "CPU model: host or baseline (default: host with hardware virtualization, else baseline)")
	var shares shareFlags
	fs.Var(&shares, "share", "offer a host folder to the guest over 9P as `HOSTDIR:TAG[:rw]`, read-only unless :rw (repeatable; in the guest: mount -t 9p -o trans=virtio,version=9p2000.L TAG /mnt)")
	if err := clikit.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return clikit.UsageError{Msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	cfg.Disks = disks
	if err := cfg.UseDefaultFirmware(); err != nil {
		return err
	}
	if *bootOrder != "" {
		cfg.BootOrder = strings.Split(*bootOrder, ",")
	}
	switch *displayMode {
	case "none":
	case "window":
		if err := clikit.CheckDisplay(); err != nil {
			return fmt.Errorf("--display window: %w", err)
		}
		if cfg.Name == "" {
			// The window finds the VM through its control socket, so the VM needs a name.
			cfg.Name = fmt.Sprintf("run-%d", os.Getpid())
		}
	default:
		return clikit.UsageError{Msg: fmt.Sprintf("--display %q: want window or none", *displayMode)}
	}
	if *resolution != "" {
		w, h, err := clikit.ParseResolution(*resolution)
		if err != nil {
			return clikit.UsageError{Msg: err.Error()}
		}
		cfg.ScreenWidth, cfg.ScreenHeight = w, h
	} else if w, h, ok := clikit.DefaultScreenSize(); ok {
		cfg.ScreenWidth, cfg.ScreenHeight = w, h
	}

	var console io.Writer
	var input io.Reader
	switch *serial {
	case "stdio":
		console, input = env.Stdout, env.Stdin
	case "none":
		console = io.Discard
	default:
		f, err := os.OpenFile(*serial, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("serial output: %w", err)
		}
		defer f.Close()
		console = f
	}
	cfg.Console = console

	log := clikit.NewLogger(env.Stderr)
	// Share servers start before the sandbox, which forbids running programs; their messages go where ours do.
	shareLog, _ := env.Stderr.(*os.File)
	started, err := startShares(shares, shareLog)
	if err != nil {
		return err
	}
	defer closeShares(started)
	cfg.Shares = started
	m, err := machine.New(cfg, log)
	if err != nil {
		return err
	}
	defer m.Close()
	if !m.Accel().Hardware {
		fmt.Fprintf(env.Stderr, "paddock: warning: %s; expect a slow boot\n", m.Accel().Describe())
	}

	if cfg.Name != "" {
		if _, err := control.EnsureSocketDir(); err != nil {
			return err
		}
		srv, err := control.Listen(control.SocketPath(cfg.Name), m, log)
		if err != nil {
			return err
		}
		defer srv.Close()
	}

	if *displayMode == "window" {
		// The viewer quits by itself when the VM ends. Nobody waits for it here (the sandbox forbids wait4);
		// once this process exits, init reaps it.
		if _, err := startViewer(env, cfg.Name); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if input != nil {
		restore := clikit.PassKeysThrough(input, log)
		defer restore()
		go clikit.ForwardInput(input, m.SerialInput)
	}
	if !*noSandbox {
		// Everything the VM needs is open now: from here on the process may not open files, make sockets, or
		// run programs, so a guest that breaks the device model gains little.
		rep, err := jail.Apply(jail.Policy{})
		if err != nil {
			return fmt.Errorf("sandbox the VM: %w", err)
		}
		log.Info("sandboxed", "jail", rep.String())
		m.SetSandbox(rep.String())
	} else {
		m.SetSandbox("none (--no-sandbox)")
	}
	outcome, err := m.Run(ctx)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		fmt.Fprintln(env.Stderr, "\npaddock: VM stopped")
		return clikit.ExitError{Code: 130}
	}
	log.Info("guest ended", "outcome", outcome.String())
	return nil
}

// GUIProgramEnv names the paddock program (with its GUI) to the lean VMM program, which cannot show windows.
const GUIProgramEnv = "PADDOCK_GUI_PROGRAM"

// startViewer runs `paddock view` for the VM in a process of its own, so the VM's process can be sandboxed while
// the window talks to the desktop.
func startViewer(env clikit.Env, name string) (*exec.Cmd, error) {
	program := os.Getenv(GUIProgramEnv)
	if program == "" {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find the paddock program to open the window: %w", err)
		}
		program = self
	}
	// The socket is named outright: a library VM may share the name.
	cmd := exec.Command(program, "view", "--power-off-on-close", "--socket", control.SocketPath(name), name)
	cmd.Stdout, cmd.Stderr = env.Stderr, env.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("open the VM window: %w", err)
	}
	return cmd, nil
}
