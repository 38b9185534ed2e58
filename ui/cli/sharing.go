package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"paddock/library"
	"paddock/sharing/guesttools"
	"paddock/sharing/policy"
	"paddock/ui/clikit"
	"paddock/ui/vmctl"
)

// shareCommand is `paddock share add|list|remove`.
func shareCommand(env Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(env.Stderr, "Usage: paddock share add NAME HOSTDIR --tag TAG [--rw] [--transient]")
		fmt.Fprintln(env.Stderr, "       paddock share list NAME [--json]")
		fmt.Fprintln(env.Stderr, "       paddock share remove NAME TAG")
		if len(args) == 0 {
			return clikit.ExitError{Code: 2}
		}
		return nil
	}
	switch args[0] {
	case "add":
		return shareAdd(env, args[1:])
	case "list":
		return shareList(env, args[1:])
	case "remove":
		return shareRemove(env, args[1:])
	}
	return usageError{Msg: fmt.Sprintf("unknown share command %q: use add, list or remove", args[0])}
}

func shareAdd(env Env, args []string) error {
	fs := newFlagSet(env, "share add", "NAME HOSTDIR --tag TAG [--rw] [--transient]")
	tag := fs.String("tag", "", "the mount `tag` the guest uses (letters, digits, '.', '_', '-'; at most 32)")
	rw := fs.Bool("rw", false, "let the guest write (the default is read-only, enforced on the host)")
	transient := fs.Bool("transient", false, "remove the share when the VM powers off")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return usageError{Msg: "expects a VM name and a host folder"}
	}
	if *tag == "" {
		return usageError{Msg: "--tag is required"}
	}
	lib, err := library.Open("")
	if err != nil {
		return err
	}
	defer lib.Close()
	ctx := context.Background()
	s, err := lib.AddShare(ctx, rest[0], library.Share{HostDir: rest[1], Tag: *tag, ReadOnly: !*rw, Transient: *transient})
	if err != nil {
		return err
	}
	vm, err := lib.GetVM(ctx, rest[0])
	if err != nil {
		return err
	}
	if _, err := lib.AppendAudit(ctx, policy.ShareChange(vm, s, true)); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: sharing %s as %q (%s%s)\n", vm.Name, s.HostDir, s.Tag, accessWord(s), keptWord(s))
	fmt.Fprintf(env.Stdout, "in the guest: mount -t 9p -o trans=virtio,version=9p2000.L %s /mnt\n", s.Tag)
	if err := vmctl.ApplySharing(ctx, lib, vm); err != nil {
		return fmt.Errorf("saved, but the running VM did not take it: %w", err)
	}
	if vm.State.Active() {
		fmt.Fprintln(env.Stdout, "the VM is running: the guest finds the share from its next boot (a reboot will do)")
	}
	return nil
}

func accessWord(s library.Share) string {
	if s.ReadOnly {
		return "read-only"
	}
	return "read-write"
}

func keptWord(s library.Share) string {
	if s.Transient {
		return ", until the VM powers off"
	}
	return ""
}

type shareJSON struct {
	Tag       string `json:"tag"`
	HostDir   string `json:"host_dir"`
	ReadOnly  bool   `json:"read_only"`
	Transient bool   `json:"transient"`
}

func shareList(env Env, args []string) error {
	fs := newFlagSet(env, "share list", "NAME [--json]")
	asJSON := fs.Bool("json", false, "print the shares as JSON")
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	lib, err := library.Open("")
	if err != nil {
		return err
	}
	defer lib.Close()
	vm, err := lib.GetVM(context.Background(), name)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]shareJSON, 0, len(vm.Shares))
		for _, s := range vm.Shares {
			out = append(out, shareJSON{Tag: s.Tag, HostDir: s.HostDir, ReadOnly: s.ReadOnly, Transient: s.Transient})
		}
		return writeJSON(env.Stdout, out)
	}
	if len(vm.Shares) == 0 {
		fmt.Fprintf(env.Stdout, "%s shares no folders.\n", vm.Name)
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TAG\tACCESS\tKEPT\tHOST FOLDER")
	for _, s := range vm.Shares {
		kept := "always"
		if s.Transient {
			kept = "until power-off"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Tag, accessWord(s), kept, s.HostDir)
	}
	return tw.Flush()
}

func shareRemove(env Env, args []string) error {
	fs := newFlagSet(env, "share remove", "NAME TAG")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return usageError{Msg: "expects a VM name and a share tag"}
	}
	lib, err := library.Open("")
	if err != nil {
		return err
	}
	defer lib.Close()
	ctx := context.Background()
	vm, err := lib.GetVM(ctx, rest[0])
	if err != nil {
		return err
	}
	if err := lib.RemoveShare(ctx, vm.ID, rest[1]); err != nil {
		return err
	}
	for _, s := range vm.Shares {
		if s.Tag == rest[1] {
			if _, err := lib.AppendAudit(ctx, policy.ShareChange(vm, s, false)); err != nil {
				return err
			}
		}
	}
	if vm, err = lib.GetVM(ctx, vm.ID); err != nil {
		return err
	}
	if err := vmctl.ApplySharing(ctx, lib, vm); err != nil {
		return fmt.Errorf("removed from the library, but the running VM did not revoke it: %w", err)
	}
	fmt.Fprintf(env.Stdout, "%s: no longer shares %q\n", vm.Name, rest[1])
	return nil
}

// onOff is a flag that takes "on" or "off".
type onOff struct {
	set, on bool
}

func (o *onOff) String() string {
	if o == nil || !o.on {
		return "off"
	}
	return "on"
}

func (o *onOff) Set(v string) error {
	switch v {
	case "on", "true", "yes":
		o.on = true
	case "off", "false", "no":
		o.on = false
	default:
		return errors.New("want on or off")
	}
	o.set = true
	return nil
}

func clipboardCommand(env Env, args []string) error {
	fs := newFlagSet(env, "clipboard", "NAME [--mode off|host-to-guest|guest-to-host|both] [--max-bytes N] [--ask on|off]")
	mode := fs.String("mode", "", "which way text may cross: `off`, host-to-guest, guest-to-host or both")
	maxBytes := fs.Int64("max-bytes", 0, "the largest text that may cross, in `bytes` (1 to 64 MiB)")
	var ask onOff
	fs.Var(&ask, "ask", "ask before each transfer: `on` or off")
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	lib, err := library.Open("")
	if err != nil {
		return err
	}
	defer lib.Close()
	ctx := context.Background()
	vm, err := lib.GetVM(ctx, name)
	if err != nil {
		return err
	}
	p := vm.Sharing
	changed := *mode != "" || *maxBytes != 0 || ask.set
	if *mode != "" {
		p.Clipboard = library.ClipboardMode(*mode)
	}
	if *maxBytes != 0 {
		p.ClipboardMaxBytes = *maxBytes
	}
	if ask.set {
		p.ClipboardAsk = ask.on
	}
	if changed {
		if err := lib.SetSharePolicy(ctx, vm.ID, p); err != nil {
			return err
		}
		if e, ok := policy.ClipboardChange(vm, vm.Sharing, p); ok {
			if _, err := lib.AppendAudit(ctx, e); err != nil {
				return err
			}
		}
		if vm, err = lib.GetVM(ctx, vm.ID); err != nil {
			return err
		}
		if err := vmctl.ApplySharing(ctx, lib, vm); err != nil {
			return fmt.Errorf("saved, but the running VM did not take it: %w", err)
		}
	}
	askWord := "off"
	if vm.Sharing.ClipboardAsk {
		askWord = "on"
	}
	fmt.Fprintf(env.Stdout, "%s: clipboard %s, at most %d bytes, ask %s\n", vm.Name, vm.Sharing.Clipboard,
		vm.Sharing.ClipboardMaxBytes, askWord)
	return nil
}

type auditJSON struct {
	Time      time.Time `json:"time"`
	VM        string    `json:"vm"`
	Channel   string    `json:"channel"`
	Direction string    `json:"direction"`
	Bytes     int64     `json:"bytes"`
	SHA256    string    `json:"sha256,omitempty"`
	Rule      string    `json:"rule"`
	Decision  string    `json:"decision"`
}

func auditCommand(env Env, args []string) error {
	fs := newFlagSet(env, "audit", "[NAME] [--json] [--limit N]")
	asJSON := fs.Bool("json", false, "print the entries as JSON")
	limit := fs.Int("limit", library.DefaultAuditLimit, "show at most `N` entries")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return usageError{Msg: "expects at most one VM name"}
	}
	if *limit < 1 || *limit > library.MaxAuditLimit {
		return usageError{Msg: fmt.Sprintf("--limit must be between 1 and %d", library.MaxAuditLimit)}
	}
	q := library.AuditQuery{Limit: *limit}
	if len(rest) == 1 {
		q.VM = rest[0]
	}
	lib, err := library.Open("")
	if err != nil {
		return err
	}
	defer lib.Close()
	entries, err := lib.ListAudit(context.Background(), q)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]auditJSON, 0, len(entries))
		for _, e := range entries {
			out = append(out, auditJSON{Time: e.Time.UTC(), VM: e.VMName, Channel: e.Channel, Direction: e.Direction,
				Bytes: e.Bytes, SHA256: e.SHA256, Rule: e.Rule, Decision: e.Decision})
		}
		return writeJSON(env.Stdout, out)
	}
	if len(entries) == 0 {
		fmt.Fprintln(env.Stdout, "Nothing has crossed, and nothing was refused.")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tVM\tCHANNEL\tDIRECTION\tBYTES\tSHA-256\tRULE\tDECISION")
	for _, e := range entries {
		sum := e.SHA256
		if sum == "" {
			sum = "-"
		} else {
			sum = sum[:16] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"), e.VMName,
			e.Channel, e.Direction, e.Bytes, sum, orDash(e.Rule), e.Decision)
	}
	return tw.Flush()
}

func guestToolsCommand(env Env, args []string) error {
	fs := newFlagSet(env, "guest-tools", "[--output PATH] [--agent PATH]")
	output := fs.String("output", "paddock-guest-tools.iso", "write the image to `PATH`")
	agentPath := fs.String("agent", "", "the static paddock-agent `program` (default: the one beside paddock, or the installed one)")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usageError{Msg: "takes no arguments"}
	}
	if *agentPath == "" {
		p, ok := findAgent()
		if !ok {
			return errors.New("no paddock-agent beside this program or in ../" + installedAgentDir + ": build it (CGO_ENABLED=0 go build -o bin/paddock-agent ./sharing/agent/cmd/paddock-agent) or give --agent PATH")
		}
		*agentPath = p
	}
	dir := filepath.Dir(*output)
	tmp, err := os.CreateTemp(dir, ".guest-tools-*.iso")
	if err != nil {
		return fmt.Errorf("writing the image: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := guesttools.Build(tmp, *agentPath, time.Now()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing the image: %w", err)
	}
	if err := os.Rename(tmp.Name(), *output); err != nil {
		return fmt.Errorf("writing the image: %w", err)
	}
	fmt.Fprintf(env.Stdout, "wrote %s\n", *output)
	fmt.Fprintln(env.Stdout, "insert it as a VM's ISO (paddock edit NAME --iso "+strconv.Quote(*output)+"), then in the guest as root:")
	fmt.Fprintln(env.Stdout, "  mount /dev/sr0 /mnt && sh /mnt/install.sh")
	return nil
}
