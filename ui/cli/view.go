package cli

import "paddock/ui/gui/viewer"

func viewCommand(env Env, args []string) error {
	fs := newFlagSet(env, "view", "[--power-off-on-close] NAME")
	powerOff := fs.Bool("power-off-on-close", false, "power the VM off when the window is closed")
	socket := fs.String("socket", "", "the VM's control socket `path` (instead of looking the name up)")
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	if *socket != "" {
		return viewer.Run(*socket, name, *powerOff)
	}
	path, title, err := resolveVM(name)
	if err != nil {
		return err
	}
	return viewer.Run(path, title, *powerOff)
}
