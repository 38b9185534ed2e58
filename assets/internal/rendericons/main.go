// Command rendericons renders an SVG icon to PNG files beside it: `rendericons ICON.svg SIZE...` writes
// ICON-SIZE.png for each size.
package main

import (
	"errors"
	"fmt"
	"image/png"
	"os"
	"strconv"
	"strings"

	"paddock/assets/internal/svgicon"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rendericons:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: rendericons ICON.svg SIZE [SIZE ...] (at least one size)")
	}
	path := args[0]
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	icon, err := svgicon.Parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, s := range args[1:] {
		size, err := strconv.Atoi(s)
		if err != nil || size < 1 || size > 4096 {
			return fmt.Errorf("size %q: want a number of pixels from 1 to 4096", s)
		}
		out := fmt.Sprintf("%s-%d.png", strings.TrimSuffix(path, ".svg"), size)
		if err := writePNG(out, icon, size); err != nil {
			return err
		}
	}
	return nil
}

func writePNG(path string, icon *svgicon.Icon, size int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(f, icon.Render(size)); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
