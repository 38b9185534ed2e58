package cli

import "paddock/ui/gui/viewer"

func viewCommand(env Env, args []string) error {
	fs := newFlagSet(env, "view", "[--power-off-on-close] NAME")
	powerOff := fs.Bool("power-off-on-close", false, "power the VM off when the window is closed")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{Msg: "expects exactly one VM name"}
	}
	path, title, err := resolveVM(rest[0])
	if err != nil {
		return err
	}
	return viewer.Run(path, title, *powerOff)
}
