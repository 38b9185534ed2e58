package machine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"paddock/engine/devices/fwcfg"
	"paddock/engine/devices/ramfb"
)

// The firmware's screen: SeaBIOS runs the ramfb VGA BIOS from fw_cfg, which sets a framebuffer aside in guest RAM
// and names it in "etc/ramfb"; a scanout goroutine copies it onto the machine's framebuffer, where the window,
// screenshots and thumbnails look.
const (
	// vgaROMName is that VGA BIOS, in Debian's seabios package beside the BIOS images.
	vgaROMName = "vgabios-ramfb.bin"
	vgaROMDir  = "/usr/share/seabios"
	// vgaROMMaxSize is the room a PC gives a VGA BIOS (0xC0000..0xDFFFF).
	vgaROMMaxSize = 128 << 10
	// scanoutInterval is how often the guest's framebuffer is compared with the screen and copied where it differs.
	scanoutInterval = time.Second / 60
)

// readVGAROM reads the ramfb VGA BIOS, looking beside the firmware image first, then in Debian's SeaBIOS folder.
// It runs before the sandbox, once, so reboots read nothing.
func readVGAROM(firmware string, log *slog.Logger) []byte {
	paths := []string{filepath.Join(filepath.Dir(firmware), vgaROMName)}
	if p := filepath.Join(vgaROMDir, vgaROMName); p != paths[0] {
		paths = append(paths, p)
	}
	return firstVGAROM(paths, log)
}

// firstVGAROM reads the first of paths that exists. Without a usable one the firmware still boots, on the serial
// console only, and one warning says what to install.
func firstVGAROM(paths []string, log *slog.Logger) []byte {
	for _, p := range paths {
		rom, err := readOptionROM(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			log.Warn("the firmware's screen stays black: the ramfb VGA BIOS is unusable (reinstall the seabios package)",
				"err", err)
			return nil
		}
		return rom
	}
	log.Warn("the firmware's screen stays black: no ramfb VGA BIOS (install the seabios package)",
		"looked for", strings.Join(paths, ", "))
	return nil
}

// readOptionROM reads a VGA option ROM and checks its size and signature.
func readOptionROM(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rom, err := io.ReadAll(io.LimitReader(f, vgaROMMaxSize+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", path, err)
	case len(rom) > vgaROMMaxSize:
		return nil, fmt.Errorf("%s is larger than the %d KiB a VGA BIOS may take", path, vgaROMMaxSize>>10)
	case !bytes.HasPrefix(rom, []byte{0x55, 0xAA}):
		return nil, fmt.Errorf("%s is not an option ROM (no 55 AA signature)", path)
	}
	return rom, nil
}

// ramfbScreen is one firmware boot's display: the ramfb device and the goroutine drawing it.
type ramfbScreen struct {
	scan *ramfb.Scanout
	stop chan struct{}
	done chan struct{}
}

// attachRAMFB offers the firmware its VGA BIOS and the ramfb device, and starts drawing the guest's framebuffer,
// from a black screen, until the boot ends. Without the VGA BIOS it does nothing.
func (m *Machine) attachRAMFB(b *boot, fw *fwcfg.Device) error {
	if m.vgaROM == nil {
		return nil
	}
	if err := fw.AddFile(fwcfg.VGAROMPrefix+vgaROMName, m.vgaROM); err != nil {
		return fmt.Errorf("VGA BIOS: %w", err)
	}
	dev := ramfb.New(b.mem, b.log)
	if err := dev.Attach(fw); err != nil {
		return fmt.Errorf("ramfb: %w", err)
	}
	mode := m.fb.Mode()
	scan, err := ramfb.NewScanout(dev, ramfb.Target{Pix: m.fb.Memory(), Width: mode.Width, Height: mode.Height, Stride: mode.Stride})
	if err != nil {
		return err
	}
	scan.Blank()
	r := &ramfbScreen{scan: scan, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		scan.Run(r.stop, scanoutInterval)
	}()
	b.onClose(r.close)
	b.ramfb = r
	return nil
}

// close stops the drawing and waits for it, before the guest RAM it reads goes away.
func (r *ramfbScreen) close() error {
	close(r.stop)
	<-r.done
	return nil
}
