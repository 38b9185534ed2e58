package machine

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The VGA BIOS is taken from the first place that has one; a missing or unusable one leaves the firmware without a
// screen, with one warning that names the package to install.
func TestFirstVGAROM(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := append([]byte{0x55, 0xAA, 0x40}, bytes.Repeat([]byte{0x90}, 1000)...)
	other := append([]byte{0x55, 0xAA, 0x01}, make([]byte, 100)...)
	missing := filepath.Join(dir, "missing.bin")
	for _, tc := range []struct {
		name  string
		paths []string
		want  []byte
		warn  string // a word the single warning must hold; empty for no warning
	}{
		{"first found", []string{missing, write("a.bin", good), write("b.bin", other)}, good, ""},
		{"none", []string{missing, filepath.Join(dir, "missing2.bin")}, nil, "install the seabios package"},
		{"not a ROM", []string{write("text.bin", []byte("#!/bin/sh\n")), write("c.bin", good)}, nil, "55 AA"},
		{"too large", []string{write("big.bin", append([]byte{0x55, 0xAA}, make([]byte, vgaROMMaxSize)...))}, nil, "larger"},
		{"a directory", []string{dir}, nil, "seabios"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			got := firstVGAROM(tc.paths, slog.New(slog.NewTextHandler(&logs, nil)))
			if !bytes.Equal(got, tc.want) {
				t.Errorf("got %d bytes, want %d", len(got), len(tc.want))
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			switch {
			case tc.warn == "" && logs.Len() != 0:
				t.Errorf("logged %q", logs.String())
			case tc.warn != "" && (len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], tc.warn)):
				t.Errorf("logged %q, want one warning mentioning %q", logs.String(), tc.warn)
			}
		})
	}
}

// The VGA BIOS is looked for beside the firmware image, then in Debian's folder.
func TestReadVGAROMLooksBesideTheFirmware(t *testing.T) {
	dir := t.TempDir()
	rom := append([]byte{0x55, 0xAA, 0x02}, make([]byte, 1021)...)
	if err := os.WriteFile(filepath.Join(dir, vgaROMName), rom, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := readVGAROM(filepath.Join(dir, "bios.bin"), slog.Default()); !bytes.Equal(got, rom) {
		t.Errorf("read %d bytes, not the %d-byte ROM beside the firmware", len(got), len(rom))
	}
}
