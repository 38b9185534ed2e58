package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"paddock/engine/control"
	"paddock/ui/clikit"
	"paddock/ui/vmctl"
)

func consoleCommand(env Env, args []string) error {
	fs := newFlagSet(env, "console", "NAME")
	ctl, name, done, err := controllerFor(fs, args)
	if err != nil {
		return err
	}
	defer done()
	vm, err := ctl.Refresh(context.Background(), name)
	if err != nil {
		return err
	}
	cl, err := vmctl.Dial(vm)
	if err != nil {
		return err
	}
	defer cl.Close()
	log, err := os.Open(filepath.Join(ctl.Library().VMDir(vm.ID), vmctl.SerialLogName))
	if err != nil {
		return fmt.Errorf("%s's serial console: %w", vm.Name, err)
	}
	defer log.Close()
	// Show the last screenful of what the guest printed, then follow it.
	if fi, err := log.Stat(); err == nil && fi.Size() > 4096 {
		log.Seek(-4096, io.SeekEnd)
	}
	fmt.Fprintf(env.Stderr, "paddock: connected to %s's serial console; Ctrl-] leaves\n", vm.Name)
	restore := clikit.PassKeysThrough(env.Stdin, newLogger(env.Stderr))
	defer restore()
	quit := make(chan struct{})
	go forwardConsoleInput(env.Stdin, cl, quit)
	buf := make([]byte, 32<<10)
	for {
		n, err := log.Read(buf)
		if n > 0 {
			env.Stdout.Write(buf[:n])
		}
		if err != nil && err != io.EOF {
			return err
		}
		if n == 0 {
			select {
			case <-quit:
				fmt.Fprintln(env.Stderr, "\npaddock: left the console; the VM keeps running")
				return nil
			case <-time.After(50 * time.Millisecond):
			}
			var st control.Status
			if err := cl.Call(control.OpStatus, nil, &st); err != nil {
				fmt.Fprintln(env.Stderr, "\npaddock: the VM has stopped")
				return nil
			}
		}
	}
}

// forwardConsoleInput sends what is typed to the guest until Ctrl-] (as telnet and virsh console use).
func forwardConsoleInput(in io.Reader, cl *control.Client, quit chan<- struct{}) {
	defer close(quit)
	buf := make([]byte, 4096)
	for {
		n, err := in.Read(buf)
		for i := 0; i < n; i++ {
			if buf[i] == 0x1d {
				if i > 0 {
					cl.Call(control.OpSerialInput, control.SerialInput{Data: buf[:i]}, nil)
				}
				return
			}
		}
		if n > 0 {
			if cl.Call(control.OpSerialInput, control.SerialInput{Data: append([]byte(nil), buf[:n]...)}, nil) != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
