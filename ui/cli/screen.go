package cli

import (
	"fmt"
	"os"
	"strconv"

	"paddock/engine/control"
)

func screenshotCommand(env Env, args []string) error {
	fs := newFlagSet(env, "screenshot", "NAME FILE.png")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usageError{Msg: "expects a VM name and a file name"}
	}
	c, err := dialVM(fs.Arg(0))
	if err != nil {
		return err
	}
	defer c.Close()
	var shot control.Screenshot
	if err := c.Call(control.OpScreenshot, nil, &shot); err != nil {
		return err
	}
	if err := writeFileAtomic(fs.Arg(1), shot.PNG); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: %dx%d screenshot saved to %s\n", fs.Arg(0), shot.Width, shot.Height, fs.Arg(1))
	return nil
}

// writeFileAtomic writes data to a temporary file beside path and renames it, so a reader never sees half a file.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func sendKeysCommand(env Env, args []string) error {
	fs := newFlagSet(env, "send-keys", "NAME KEY... | NAME --text TEXT")
	text := fs.String("text", "", "type this text (US keyboard layout) instead of naming keys")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) < 1 {
		return usageError{Msg: "expects a VM name"}
	}
	a := control.SendKeysArgs{Keys: rest[1:], Text: *text}
	if (len(a.Keys) == 0) == (a.Text == "") {
		return usageError{Msg: "give either key names (such as ctrl+alt+delete enter) or --text"}
	}
	c, err := dialVM(rest[0])
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Call(control.OpSendKeys, a, nil)
}

func pointerCommand(env Env, args []string) error {
	fs := newFlagSet(env, "pointer", "NAME X Y [--click left|right|middle] [--wheel N]")
	click := fs.String("click", "", "click this button at the position: left, right or middle")
	wheel := fs.Int("wheel", 0, "turn the wheel by N steps (positive is up)")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 3 {
		return usageError{Msg: "expects a VM name and X Y in guest screen pixels"}
	}
	x, errX := strconv.Atoi(rest[1])
	y, errY := strconv.Atoi(rest[2])
	if errX != nil || errY != nil {
		return usageError{Msg: fmt.Sprintf("position %q %q: want whole numbers", rest[1], rest[2])}
	}
	c, err := dialVM(rest[0])
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Call(control.OpPointer, control.PointerArgs{X: x, Y: y, Click: *click, Wheel: *wheel}, nil)
}
