package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"paddock/engine/control"
	"paddock/library"
	"paddock/library/iso"
	"paddock/ui/clikit"
	"paddock/ui/vmctl"
)

// openController opens the library and a controller that starts VMMs from this executable.
func openController() (*vmctl.Controller, func(), error) {
	lib, err := library.Open("")
	if err != nil {
		return nil, nil, err
	}
	program, err := vmctl.DefaultProgram()
	if err != nil {
		lib.Close()
		return nil, nil, err
	}
	return vmctl.New(lib, program), func() { lib.Close() }, nil
}

// controllerFor parses a command's flags and single VM name, and opens the library to act on it.
func controllerFor(fs *flag.FlagSet, args []string) (ctl *vmctl.Controller, name string, done func(), err error) {
	if name, err = oneName(fs, args); err != nil {
		return nil, "", nil, err
	}
	if ctl, done, err = openController(); err != nil {
		return nil, "", nil, err
	}
	return ctl, name, done, nil
}

// resolveVM finds the control socket of the VM called name, and its name as the library knows it: a library VM
// by that name (or id), else an ad-hoc VM started with `paddock run --name`. It does not create a library where
// there is none.
func resolveVM(name string) (path, title string, err error) {
	if home, err := library.Home(); err == nil {
		if _, err := os.Stat(filepath.Join(home, "library.db")); err == nil {
			lib, err := library.Open(home)
			if err != nil {
				return "", "", err
			}
			defer lib.Close()
			if vm, err := lib.GetVM(context.Background(), name); err == nil {
				return vmctl.SocketPath(vm), vm.Name, nil
			}
		}
	}
	if err := control.ValidateName(name); err != nil {
		return "", "", err
	}
	return control.SocketPath(name), name, nil
}

func listCommand(env Env, args []string) error {
	fs := newFlagSet(env, "list", "[--json]")
	asJSON := fs.Bool("json", false, "print the list as JSON")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	ctl, done, err := openController()
	if err != nil {
		return err
	}
	defer done()
	vms, err := ctl.List(context.Background())
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]vmJSON, len(vms))
		for i, vm := range vms {
			out[i] = toJSON(vm)
		}
		return writeJSON(env.Stdout, out)
	}
	if len(vms) == 0 {
		fmt.Fprintln(env.Stdout, "No VMs yet: create one with 'paddock create NAME'.")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tOS\tCPUS\tMEMORY\tDISKS")
	for _, vm := range vms {
		state := string(vm.State)
		if vm.State == library.StateCrashed && vm.LastError != "" {
			state += ": " + vm.LastError
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d MiB\t%d\n", vm.Name, state, orDash(vm.OS), vm.CPUs, vm.MemoryMiB, len(vm.Disks))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// vmJSON is a VM as `--json` prints it: stable field names for scripts.
type vmJSON struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	OS        string   `json:"os,omitempty"`
	State     string   `json:"state"`
	LastError string   `json:"last_error,omitempty"`
	CPUs      int      `json:"cpus"`
	MemoryMiB int      `json:"memory_mib"`
	Boot      string   `json:"boot"`
	Kernel    string   `json:"kernel,omitempty"`
	Initrd    string   `json:"initrd,omitempty"`
	Cmdline   string   `json:"cmdline,omitempty"`
	ISO       string   `json:"iso,omitempty"`
	BootOrder string   `json:"boot_order"`
	Disks     []string `json:"disks"`
	Created   string   `json:"created"`
}

func toJSON(vm library.VM) vmJSON {
	j := vmJSON{ID: vm.ID, Name: vm.Name, OS: vm.OS, State: string(vm.State), LastError: vm.LastError, CPUs: vm.CPUs,
		MemoryMiB: vm.MemoryMiB, Boot: string(vm.Boot), Kernel: vm.Kernel, Initrd: vm.Initrd, Cmdline: vm.Cmdline,
		ISO: vm.ISO, BootOrder: vm.BootOrder, Disks: []string{}, Created: vm.Created.UTC().Format(time.RFC3339)}
	for _, d := range vm.Disks {
		j.Disks = append(j.Disks, d.Path)
	}
	return j
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func createCommand(env Env, args []string) error {
	fs := newFlagSet(env, "create", "NAME [--iso PATH | --kernel PATH [--initrd PATH] [--append CMDLINE]] [OPTIONS]")
	isoPath := fs.String("iso", "", "installer `ISO` to boot from")
	kernel := fs.String("kernel", "", "Linux `kernel` to boot directly instead of through firmware")
	initrd := fs.String("initrd", "", "initial ramdisk `file` for --kernel")
	cmdline := fs.String("append", "console=ttyS0", "kernel command `line` for --kernel")
	cpus := fs.Int("cpus", 0, "virtual CPUs (default: sized for the system and this host)")
	memory := fs.Int("memory", 0, "memory in `MiB` (default: sized for the system and this host)")
	diskGiB := fs.Int("disk-size", -1, "size of the new disk in `GiB` (sparse; default: sized for the system); 0 for no disk")
	resolution := fs.String("resolution", "", "screen size `WxH` (default: follow the host display)")
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	spec := library.VMSpec{Name: name}
	if *resolution != "" {
		w, h, err := clikit.ParseResolution(*resolution)
		if err != nil {
			return usageError{Msg: err.Error()}
		}
		spec.ScreenWidth, spec.ScreenHeight = w, h
	}
	if *kernel != "" {
		spec.Boot = library.BootDirect
		if spec.Kernel, err = filepath.Abs(*kernel); err != nil {
			return err
		}
		if *initrd != "" {
			if spec.Initrd, err = filepath.Abs(*initrd); err != nil {
				return err
			}
		}
		spec.Cmdline = *cmdline
		spec.OS = "Linux (direct boot)"
	}
	var detected *iso.Info
	if *isoPath != "" {
		info, err := iso.Inspect(*isoPath)
		if err != nil {
			return err
		}
		detected = &info
		if !info.Bootable {
			return fmt.Errorf("%s is not a bootable installer: %s", *isoPath, info.Reason)
		}
		if spec.ISO, err = filepath.Abs(*isoPath); err != nil {
			return err
		}
		spec.OS = info.Label
	}
	// What the user left out is sized for the system on the ISO and this host, as the manager window does.
	size := vmctl.DefaultSizing(detected, vmctl.ReadHostLimits())
	spec.CPUs, spec.MemoryMiB = cmp.Or(*cpus, size.CPUs), cmp.Or(*memory, size.MemoryMiB)
	if *diskGiB < 0 {
		*diskGiB = size.DiskGiB
	}
	ctl, done, err := openController()
	if err != nil {
		return err
	}
	defer done()
	ctx := context.Background()
	vm, err := ctl.Library().CreateVM(ctx, spec)
	if err != nil {
		return err
	}
	if *diskGiB > 0 {
		if _, err := ctl.Library().CreateDisk(ctx, vm.ID, int64(*diskGiB)<<30); err != nil {
			_ = ctl.Library().DeleteVM(ctx, vm.ID, false)
			return err
		}
	}
	fmt.Fprintf(env.Stdout, "created %s", vm.Name)
	if vm.OS != "" {
		fmt.Fprintf(env.Stdout, " (%s)", vm.OS)
	}
	fmt.Fprintf(env.Stdout, ": %d vCPUs, %d MiB", vm.CPUs, vm.MemoryMiB)
	if *diskGiB > 0 {
		fmt.Fprintf(env.Stdout, ", %d GiB disk", *diskGiB)
	}
	fmt.Fprintln(env.Stdout)
	return nil
}

func startCommand(env Env, args []string) error {
	fs := newFlagSet(env, "start", "NAME [--headless]")
	headless := fs.Bool("headless", false, "do not open a window on the VM's screen")
	ctl, name, done, err := controllerFor(fs, args)
	if err != nil {
		return err
	}
	defer done()
	vm, err := ctl.Start(context.Background(), name)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: running\n", vm.Name)
	if *headless || !clikit.GraphicalSession() {
		return nil
	}
	return showLibraryVM(ctl, vm)
}

func deleteCommand(env Env, args []string) error {
	fs := newFlagSet(env, "delete", "NAME [--keep-disks]")
	keep := fs.Bool("keep-disks", false, "keep the VM's disk images")
	ctl, name, done, err := controllerFor(fs, args)
	if err != nil {
		return err
	}
	defer done()
	ctx := context.Background()
	vm, err := ctl.Refresh(ctx, name)
	if err != nil {
		return err
	}
	if vm.State.Active() {
		return fmt.Errorf("%s is %s: stop it first (paddock stop %q)", vm.Name, vm.State, vm.Name)
	}
	if err := ctl.Library().DeleteVM(ctx, vm.ID, *keep); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "deleted %s\n", vm.Name)
	return nil
}

func editCommand(env Env, args []string) error {
	fs := newFlagSet(env, "edit", "NAME [--name NEW] [--cpus N] [--memory MIB] [--kernel PATH] [--initrd PATH] [--append CMDLINE] [--resolution WxH] [--iso PATH | --eject] [--add-disk GIB] [--attach-disk PATH[,ro]] [--detach-disk N]")
	newName := fs.String("name", "", "rename the VM")
	cpus := fs.Int("cpus", 0, "virtual CPUs")
	memory := fs.Int("memory", 0, "memory in `MiB`")
	kernel := fs.String("kernel", "", "boot this Linux `kernel` directly")
	initrd := fs.String("initrd", "", "initial ramdisk `file`")
	cmdline := fs.String("append", "", "kernel command `line`")
	resolution := fs.String("resolution", "", "screen size `WxH`")
	isoPath := fs.String("iso", "", "insert this `ISO`")
	eject := fs.Bool("eject", false, "eject the ISO")
	addDisk := fs.Int("add-disk", 0, "add an empty sparse disk of `GiB`")
	var attach clikit.DiskFlags
	fs.Var(&attach, "attach-disk", "attach an existing raw image `PATH[,ro]`")
	detach := fs.Int("detach-disk", 0, "detach disk number `N` (1 is the first; the file is kept)")
	ctl, name, done, err := controllerFor(fs, args)
	if err != nil {
		return err
	}
	defer done()
	ctx := context.Background()
	lib := ctl.Library()
	vm, err := ctl.Refresh(ctx, name)
	if err != nil {
		return err
	}
	var u library.VMUpdate
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["cpus"] {
		u.CPUs = cpus
	}
	if set["memory"] {
		u.MemoryMiB = memory
	}
	if set["kernel"] {
		abs, err := filepath.Abs(*kernel)
		if err != nil {
			return err
		}
		boot := library.BootDirect
		u.Kernel, u.Boot = &abs, &boot
	}
	if set["initrd"] {
		abs := ""
		if *initrd != "" {
			if abs, err = filepath.Abs(*initrd); err != nil {
				return err
			}
		}
		u.Initrd = &abs
	}
	if set["append"] {
		u.Cmdline = cmdline
	}
	if set["resolution"] {
		w, h, err := clikit.ParseResolution(*resolution)
		if err != nil {
			return usageError{Msg: err.Error()}
		}
		u.ScreenWidth, u.ScreenHeight = &w, &h
	}
	needsStop := u.CPUs != nil || u.MemoryMiB != nil || u.Kernel != nil || u.Initrd != nil || u.Cmdline != nil ||
		u.ScreenWidth != nil || set["add-disk"] || len(attach) > 0 || set["detach-disk"]
	if needsStop && vm.State.Active() {
		return fmt.Errorf("%s is %s: CPUs, memory, kernel, screen and disks can only change while it is stopped", vm.Name, vm.State)
	}
	u.ExpectVersion = vm.Version
	if vm, err = lib.UpdateVM(ctx, vm.ID, u); err != nil {
		return err
	}
	if set["name"] {
		if vm, err = lib.RenameVM(ctx, vm.ID, *newName); err != nil {
			return err
		}
	}
	if set["iso"] {
		if _, err := iso.Inspect(*isoPath); err != nil {
			return err
		}
		abs, err := filepath.Abs(*isoPath)
		if err != nil {
			return err
		}
		if err := lib.SetISO(ctx, vm.ID, abs); err != nil {
			return err
		}
		if err := vmctl.ChangeMedia(vm, abs); err != nil {
			return fmt.Errorf("%s: recorded, but the running VM did not take the ISO: %w", vm.Name, err)
		}
	}
	if *eject {
		if err := lib.EjectISO(ctx, vm.ID); err != nil {
			return err
		}
		if err := vmctl.ChangeMedia(vm, ""); err != nil {
			return fmt.Errorf("%s: recorded, but the running VM did not eject: %w", vm.Name, err)
		}
	}
	if *addDisk > 0 {
		if _, err := lib.CreateDisk(ctx, vm.ID, int64(*addDisk)<<30); err != nil {
			return err
		}
	}
	for _, d := range attach {
		abs, err := filepath.Abs(d.Path)
		if err != nil {
			return err
		}
		if _, err := lib.AttachDisk(ctx, vm.ID, abs, d.ReadOnly); err != nil {
			return err
		}
	}
	if set["detach-disk"] {
		if *detach < 1 || *detach > len(vm.Disks) {
			return fmt.Errorf("%s has %d disks; there is no disk %d", vm.Name, len(vm.Disks), *detach)
		}
		if err := lib.DetachDisk(ctx, vm.ID, vm.Disks[*detach-1].ID); err != nil {
			return err
		}
	}
	if vm, err = lib.GetVM(ctx, vm.ID); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: %d vCPUs, %d MiB, %d disks", vm.Name, vm.CPUs, vm.MemoryMiB, len(vm.Disks))
	if vm.ISO != "" {
		fmt.Fprintf(env.Stdout, ", ISO %s", vm.ISO)
	}
	fmt.Fprintln(env.Stdout)
	return nil
}
