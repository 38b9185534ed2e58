package engine_test

import (
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"paddock/engine/control"
	"paddock/engine/x86"
)

// The firmware's text screen as SeaBIOS's ramfb VGA BIOS draws it: 80 columns of 8x16 character cells from the top
// left of its 1024x768 framebuffer.
const (
	cellWidth, cellHeight = 8, 16
	textColumns, textRows = 80, 25
)

// ansiEscape matches the terminal control sequences SeaBIOS sends to the serial console along with its text.
var ansiEscape = regexp.MustCompile(`\x1b(\[[0-9;?]*[A-Za-z]|.)`)

// Under firmware boot the screen shows what SeaBIOS prints: after "No bootable device" on the serial console, a
// screenshot holds the same lines, character cell for character cell (letters where the serial text has letters,
// blanks where it has spaces), light grey on black, and nothing else.
func TestSeaBIOSScreenOnRamfb(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("firmware boot takes seconds to tens of seconds; skipped in short mode")
	}
	requireKVM(t)
	for _, image := range seabiosImages {
		t.Run(filepath.Base(image), func(t *testing.T) {
			requireSeaBIOSDisplay(t, image)
			env := newEnv(t)
			name := vmName()
			s := start(t, env, "run", "--firmware", image, "--disk", emptyDisk(t), "--serial", "stdio",
				"--display", "none", "--name", name)
			// The pages the firmware draws are reported as changed, as a viewer asks for them: forget what came
			// before the banner (the mode set repaints everything), then expect the lines drawn after it.
			waitForWithin(s, "SeaBIOS (version ", firmwareTimeout())
			viewer, err := control.Dial(filepath.Join(envValue(env, "XDG_RUNTIME_DIR"), "paddock", name+".sock"))
			if err != nil {
				t.Fatal(err)
			}
			defer viewer.Close()
			var fbInfo control.FramebufferInfo
			fds, err := viewer.CallFDs(control.OpFramebuffer, nil, &fbInfo)
			if err != nil {
				t.Fatal(err)
			}
			for _, fd := range fds {
				syscall.Close(fd)
			}
			var drained control.DirtyPages
			if err := viewer.Call(control.OpDirtyPages, nil, &drained); err != nil {
				t.Fatal(err)
			}
			waitForWithin(s, "No bootable device.", firmwareTimeout())
			var dirty control.DirtyPages
			if err := viewer.Call(control.OpDirtyPages, nil, &dirty); err != nil {
				t.Fatal(err)
			}
			lines, err := firmwareScreenLines(s.stdout.String())
			if err != nil {
				t.Fatalf("%v\n%s", err, s.describe())
			}
			checkFirmwareDamage(t, dirty.Bitmap, fbInfo.Stride, lines)

			// SeaBIOS retries after a short wait and starts again from a black screen, so a screenshot taken just
			// then shows less; take another until one shows the text (each retry draws it again).
			file := filepath.Join(t.TempDir(), "screen.png")
			deadline := time.Now().Add(firmwareTimeout())
			for attempt := 1; ; attempt++ {
				paddock(t, env, "screenshot", name, file).expectExit(t, 0)
				err := checkFirmwareScreen(decodePNG(t, file), lines)
				if err == nil {
					t.Logf("screenshot %d shows SeaBIOS's %d lines", attempt, len(lines))
					break
				}
				if time.Now().After(deadline) {
					kept := filepath.Join(os.TempDir(), "paddock-"+name+"-screen.png")
					data, _ := os.ReadFile(file)
					_ = os.WriteFile(kept, data, 0o644)
					t.Fatalf("after %d screenshots the screen does not show SeaBIOS's text: %v (last screenshot: %s)\n"+
						"want lines %q\n%s", attempt, err, kept, lines, s.describe())
				}
				time.Sleep(100 * time.Millisecond)
			}

			paddock(t, env, "stop", "--force", name).expectExit(t, 0)
			s.wait()
			if goPanic.MatchString(s.stderr.String()) {
				t.Fatalf("a Go panic\n%s", s.describe())
			}
		})
	}
}

// SeaBIOS installs the engine's own ACPI tables from fw_cfg: its debug log (port 0x402, logged at debug level)
// finds the FADT through the XSDT and parses a DSDT of exactly the engine's DSDT's length.
func TestSeaBIOSFindsEngineACPITables(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("firmware boot takes seconds to tens of seconds; skipped in short mode")
	}
	requireKVM(t)
	image := "/usr/share/seabios/bios-256k.bin"
	if _, err := os.Stat(image); err != nil {
		t.Skipf("SeaBIOS is not installed (apt-get install seabios): %v", err)
	}
	tables, err := x86.ACPITables(2)
	if err != nil {
		t.Fatal(err)
	}
	dsdtLen := -1
	for _, tab := range tables {
		if string(tab[:4]) == "DSDT" {
			dsdtLen = len(tab)
		}
	}
	s := start(t, testenvWith(t, "PADDOCK_LOG=debug"), "run", "--firmware", image, "--disk", emptyDisk(t),
		"--cpus", "2", "--serial", "stdio", "--display", "none", "--no-reboot")
	waitForWithin(s, "No bootable device", firmwareTimeout())
	select {
	case <-s.done:
	case <-time.After(firmwareTimeout()):
		s.kill()
		t.Fatalf("paddock did not end after SeaBIOS's reset\n%s", s.describe())
	}
	log := s.stderr.String()
	fadt := regexp.MustCompile(`table\(50434146\)=0x[0-9a-f]+ \(via xsdt\)`) // 50434146 is "FACP"
	if !fadt.MatchString(log) {
		t.Errorf("SeaBIOS did not find the FADT through the XSDT\n%s", s.describe())
	}
	m := regexp.MustCompile(`ACPI: parse DSDT at 0x[0-9a-f]+ \(len (\d+)\)`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("SeaBIOS parsed no DSDT\n%s", s.describe())
	}
	if n, _ := strconv.Atoi(m[1]); n != dsdtLen {
		t.Errorf("SeaBIOS parsed a DSDT of %d bytes, the engine's has %d\n%s", n, dsdtLen, s.describe())
	}
	if s.code != 0 {
		t.Errorf("exit status %d after SeaBIOS reset the machine, want 0\n%s", s.code, s.describe())
	}
}

// checkFirmwareDamage checks the dirty pages reported while SeaBIOS printed its lines after the banner: each line
// with text after the first has changed pages in its band of pixel rows, and, unless SeaBIOS's retry has already
// reset the machine (which repaints everything), blank lines and the screen below the text have none.
func checkFirmwareDamage(t *testing.T, bitmap []uint64, stride int, lines []string) {
	t.Helper()
	page := func(y int) int { return y * stride / 4096 }
	set := func(p int) bool { return p/64 < len(bitmap) && bitmap[p/64]&(1<<(p%64)) != 0 }
	anySet := func(from, to int) bool { // pages from..to inclusive
		for p := from; p <= to; p++ {
			if set(p) {
				return true
			}
		}
		return false
	}
	all := true
	for p := range page(textRows*cellHeight) + 1 {
		all = all && set(p)
	}
	for row := 1; row < len(lines); row++ {
		top, bottom := page(row*cellHeight), page((row+1)*cellHeight-1)
		switch {
		case strings.TrimSpace(lines[row]) != "" && !anySet(top, bottom):
			t.Errorf("line %d (%q) is not reported changed; dirty bitmap %x", row, lines[row], bitmap)
		case strings.TrimSpace(lines[row]) == "" && !all && anySet(top+1, bottom-1):
			t.Errorf("blank line %d is reported changed; dirty bitmap %x", row, bitmap)
		}
	}
	if below := page(textRows*cellHeight) + 1; set(below) && !all {
		t.Errorf("page %d, below the text screen, is reported changed; dirty bitmap %x", below, bitmap)
	}
}

// envValue is the value of key in env.
func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// requireSeaBIOSDisplay skips unless image and the ramfb VGA BIOS beside it are installed.
func requireSeaBIOSDisplay(t *testing.T, image string) {
	t.Helper()
	for _, f := range []string{image, filepath.Join(filepath.Dir(image), "vgabios-ramfb.bin")} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("SeaBIOS is not installed (apt-get install seabios): %v", err)
		}
	}
}

// emptyDisk is a 1 MiB disk of zeros: nothing SeaBIOS can boot.
func emptyDisk(t *testing.T) string {
	t.Helper()
	disk := filepath.Join(t.TempDir(), "empty.img")
	if err := os.WriteFile(disk, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	return disk
}

// testenvWith is newEnv plus extra variables.
func testenvWith(t *testing.T, set ...string) []string {
	t.Helper()
	env := newEnv(t)
	return append(env, set...)
}

// firmwareScreenLines is what SeaBIOS printed on its first pass, from its banner through "No bootable device.",
// one string per screen line, control sequences removed.
func firmwareScreenLines(serial string) ([]string, error) {
	start := strings.Index(serial, "SeaBIOS (version ")
	end := strings.Index(serial, "No bootable device.")
	if start < 0 || end < start {
		return nil, errors.New("the serial console lacks SeaBIOS's banner or its \"No bootable device.\"")
	}
	text := ansiEscape.ReplaceAllString(serial[start:end+len("No bootable device.")], "")
	lines := strings.Split(strings.ReplaceAll(text, "\r", ""), "\n")
	if len(lines) > textRows {
		return nil, fmt.Errorf("SeaBIOS printed %d lines, more than one screen", len(lines))
	}
	return lines, nil
}

// checkFirmwareScreen compares a screenshot with the text lines: each cell of a letter has lit pixels, each cell of
// a space or past a line's end has none (the last line is checked only as far as its text: SeaBIOS may be
// printing more there), lit pixels are grey, and everything beyond the text lines is black.
func checkFirmwareScreen(img image.Image, lines []string) error {
	b := img.Bounds()
	if b.Dx() < textColumns*cellWidth || b.Dy() < textRows*cellHeight {
		return fmt.Errorf("screen %dx%d is smaller than the firmware's text screen", b.Dx(), b.Dy())
	}
	lit := func(x, y int) (bool, error) {
		r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
		if r>>8 < 0x20 && g>>8 < 0x20 && bl>>8 < 0x20 {
			return false, nil
		}
		if r != g || g != bl {
			return true, fmt.Errorf("pixel %d,%d is %#x,%#x,%#x, not the firmware's grey", x, y, r>>8, g>>8, bl>>8)
		}
		return true, nil
	}
	cellLit := func(col, row int) (int, error) {
		n := 0
		for y := row * cellHeight; y < (row+1)*cellHeight; y++ {
			for x := col * cellWidth; x < (col+1)*cellWidth; x++ {
				on, err := lit(x, y)
				if err != nil {
					return 0, err
				}
				if on {
					n++
				}
			}
		}
		return n, nil
	}
	for row, line := range lines {
		cols := textColumns
		if row == len(lines)-1 {
			cols = len(line)
		}
		for col := range cols {
			n, err := cellLit(col, row)
			if err != nil {
				return err
			}
			letter := col < len(line) && line[col] != ' '
			if letter && n == 0 {
				return fmt.Errorf("line %d (%q): column %d (%q) is blank", row, line, col, line[col])
			}
			if !letter && n > 0 {
				return fmt.Errorf("line %d (%q): column %d should be blank but has %d lit pixels", row, line, col, n)
			}
		}
	}
	// Outside the text screen (right of 80 columns, below 25 rows) nothing is drawn.
	for y := range b.Dy() {
		for x := range b.Dx() {
			if x < textColumns*cellWidth && y < textRows*cellHeight {
				continue
			}
			if on, _ := lit(x, y); on {
				return fmt.Errorf("pixel %d,%d outside the text screen is lit", x, y)
			}
		}
	}
	return nil
}
