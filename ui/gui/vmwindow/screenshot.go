package vmwindow

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// saveScreenshot writes img as dir/paddock-NAME-TIMESTAMP.png (dir empty means ~/Pictures), never over an
// existing file, and returns the path.
func saveScreenshot(dir, name string, img image.Image) (string, error) {
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the pictures folder: %w", err)
		}
		dir = filepath.Join(home, "Pictures")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create screenshot folder: %w", err)
	}
	base := fmt.Sprintf("paddock-%s-%s", fileSafe(name), time.Now().Format("20060102-150405"))
	for i := 0; ; i++ {
		path := filepath.Join(dir, base+".png")
		if i > 0 {
			path = filepath.Join(dir, fmt.Sprintf("%s-%d.png", base, i))
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) && i < 100 {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("create screenshot: %w", err)
		}
		if err := png.Encode(f, img); err != nil {
			f.Close()
			os.Remove(path)
			return "", fmt.Errorf("write screenshot %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			os.Remove(path)
			return "", fmt.Errorf("write screenshot %s: %w", path, err)
		}
		return path, nil
	}
}

// fileSafe keeps a VM name readable in a file name while dropping separators and other awkward characters.
func fileSafe(name string) string {
	out := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '-'
	}, name)
	for strings.Contains(out, "--") {
		out = strings.ReplaceAll(out, "--", "-")
	}
	out = strings.Trim(out, "-.")
	if out == "" {
		return "vm"
	}
	return out
}
