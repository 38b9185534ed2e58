package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	"paddock/engine/control"
)

func dialVM(name string) (*control.Client, error) {
	path, _, err := resolveVM(name)
	if err != nil {
		return nil, err
	}
	c, err := control.Dial(path)
	if err != nil {
		return nil, fmt.Errorf("VM %q: %w", name, err)
	}
	return c, nil
}

// oneName parses a command's flags (anywhere on the line) and its single VM name.
func oneName(fs *flag.FlagSet, args []string) (string, error) {
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return "", err
	}
	if len(rest) != 1 {
		return "", usageError{Msg: "expects exactly one VM name (quote a name with spaces)"}
	}
	return rest[0], nil
}

func statusCommand(env Env, args []string) error {
	fs := newFlagSet(env, "status", "[--json] NAME")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	c, err := dialVM(name)
	if err != nil {
		return err
	}
	defer c.Close()
	var st control.Status
	if err := c.Call(control.OpStatus, nil, &st); err != nil {
		return err
	}
	if _, title, err := resolveVM(name); err == nil {
		st.Name = title // a library VM's process knows it by its id
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fmt.Fprintf(env.Stdout, "name:      %s\n", st.Name)
	fmt.Fprintf(env.Stdout, "state:     %s\n", st.State)
	fmt.Fprintf(env.Stdout, "uptime:    %s\n", (time.Duration(st.UptimeSeconds) * time.Second).String())
	fmt.Fprintf(env.Stdout, "vcpus:     %d\n", st.VCPUs)
	fmt.Fprintf(env.Stdout, "memory:    %d MiB\n", st.MemoryMiB)
	fmt.Fprintf(env.Stdout, "cpu model: %s\n", st.CPUModel)
	fmt.Fprintf(env.Stdout, "pid:       %d\n", st.PID)
	if st.Sandbox != "" {
		fmt.Fprintf(env.Stdout, "sandbox:   %s\n", st.Sandbox)
	}
	if st.CDROM != "" {
		fmt.Fprintf(env.Stdout, "cdrom:     %s\n", st.CDROM)
	}
	if shares, err := c.Shares(); err == nil && len(shares) > 0 {
		var words []string
		for _, s := range shares {
			w := s.Tag + " (read-write"
			if s.ReadOnly {
				w = s.Tag + " (read-only"
			}
			if s.Revoked {
				w += ", revoked"
			}
			words = append(words, w+")")
		}
		fmt.Fprintf(env.Stdout, "shares:    %s\n", strings.Join(words, ", "))
	}
	if st.Boot != "" {
		fmt.Fprintf(env.Stdout, "boot:      %s\n", st.Boot)
	}
	if st.Error != "" {
		fmt.Fprintf(env.Stdout, "error:     %s\n", st.Error)
	}
	return nil
}

func stopCommand(env Env, args []string) error {
	fs := newFlagSet(env, "stop", "[--force] NAME")
	force := fs.Bool("force", false, "power off at once instead of asking the guest to shut down")
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	c, err := dialVM(name)
	if err != nil {
		return err
	}
	defer c.Close()
	if *force {
		if err := c.Call(control.OpPowerOff, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s: powered off\n", name)
		return nil
	}
	if err := c.Call(control.OpStop, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: power button pressed; the guest is shutting down\n", name)
	return nil
}

func pauseCommand(env Env, args []string) error {
	return pauseOrResume(env, "pause", control.OpPause, args, "paused")
}

func resumeCommand(env Env, args []string) error {
	return pauseOrResume(env, "resume", control.OpResume, args, "running")
}

func pauseOrResume(env Env, cmd, op string, args []string, done string) error {
	fs := newFlagSet(env, cmd, "NAME")
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	c, err := dialVM(name)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Call(op, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: %s\n", name, done)
	return nil
}
