// Package guests builds the engine layer's test guests: tiny bzImage kernels written in assembly (GNU as, AT&T
// syntax) that check one piece of the virtual machine from inside and report on COM1. Building one takes
// milliseconds. Each enters through the 64-bit boot protocol entry, keeps kernel-mode work short, and ends with
// ACPI S5 ("POWEROFF"); an unexpected exception prints "GUEST-EXCEPTION ..." and powers off.
//
//	hello        the zero page, segment selectors, command line, initrd and e820 map; "PADDOCK-GUEST-OK"
//	echo         COM1 receive interrupts via the IOAPIC: "READY", then each byte as <c>; "q" quits
//	pci          bus 0 functions ("PCI bb:dd.f vvvv:dddd class") and their sized memory BARs ("BAR ...")
//	msix         virtio-rng driven as a virtio 1.x driver with an MSI-X queue interrupt: "MSIX-OK n=16"
//	reset        "BOOT n" counted in CMOS RAM; an i8042 reset on the first boot, power-off on the second
//	powerbutton  "WAITING" for the ACPI power button's SCI, then "POWER-BUTTON"
//	cpus         the MADT's entries and "CPUS n", the enabled local APICs
//	smp          starts every AP the MADT lists with INIT and SIPI to a real-mode trampoline: "APS n", "APS-OK"
//	badinsn      jumps to unbacked MMIO at 0xd0000000: the engine must report an internal error
//	triplefault  an empty IDT and ud2: a triple fault, which is a reset
//	fbpattern    reads screen_info ("FB w h stride base"), draws a test pattern into the framebuffer: "DRAWN"
//	kbdecho      enables the PS/2 keyboard on IRQ 1 and prints every byte from port 0x60 as "SC xx"
//	fbpoke       draws the pattern, then inverts one pixel per key press: "POKE x y"
//	tablet       draws the pattern, drives the virtio tablet with MSI-X: "TABLET-READY", then "EV type code value"
//	fbflood      drops to CPL3 ("CPL3 ring=3") and refills the whole framebuffer, a new colour a frame: "FRAMES n"
//
// Shared start-up code and helpers are in common.inc, the bzImage layout in guest.ld.
package guests

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

//go:embed *.asm common.inc guest.ld
var sources embed.FS

// Names lists every guest, in the order their sources sort.
func Names() []string {
	entries, err := sources.ReadDir(".")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".asm"); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// Build assembles the guest called name into a bzImage in a temporary directory of t and returns its path. A
// missing tool or an assembler error fails t with the tool's message.
func Build(t testing.TB, name string) string {
	t.Helper()
	path, err := BuildIn(t.TempDir(), name)
	if err != nil {
		t.Fatalf("building test guest %q: %v", name, err)
	}
	return path
}

// BuildIn assembles the guest called name into dir and returns the bzImage's path.
func BuildIn(dir, name string) (string, error) {
	if !slices.Contains(Names(), name) {
		return "", fmt.Errorf("no test guest named %q (have %s)", name, strings.Join(Names(), ", "))
	}
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	for _, f := range []string{name + ".asm", "common.inc", "guest.ld"} {
		data, err := sources.ReadFile(f)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(src, f), data, 0o644); err != nil {
			return "", err
		}
	}
	obj := filepath.Join(src, name+".o")
	elf := filepath.Join(src, name+".elf")
	image := filepath.Join(dir, name+".bzImage")
	steps := [][]string{
		{"as", "--64", "-I", src, "-o", obj, filepath.Join(src, name+".asm")},
		{"ld", "-m", "elf_x86_64", "-nostdlib", "-T", filepath.Join(src, "guest.ld"), "-o", elf, obj},
		{"objcopy", "-O", "binary", elf, image},
	}
	for _, argv := range steps {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = src
		var out bytes.Buffer
		cmd.Stdout = &out
		cmd.Stderr = &out
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, out.String())
		}
	}
	return image, nil
}
