package engine_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// The echo guest takes COM1's receive interrupt through the IOAPIC; input on paddock's stdin reaches it.
func TestSerialInputInterrupts(t *testing.T) {
	requireKVM(t)
	s := start(t, newEnv(t), "run", "--kernel", buildGuest(t, "echo"), "--serial", "stdio")
	s.waitFor("READY")
	if _, err := s.stdin.Write([]byte("ab\n")); err != nil {
		t.Fatalf("writing to paddock's stdin: %v", err)
	}
	s.waitFor("<a><b><#0a>")
	// A paste longer than the UART's FIFO arrives whole and in order.
	paste := strings.Repeat("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 3)
	if _, err := s.stdin.Write([]byte(paste)); err != nil {
		t.Fatalf("writing to paddock's stdin: %v", err)
	}
	var echoed strings.Builder
	for _, c := range paste {
		fmt.Fprintf(&echoed, "<%c>", c)
	}
	s.waitFor(echoed.String())
	if _, err := s.stdin.Write([]byte("q")); err != nil {
		t.Fatalf("writing to paddock's stdin: %v", err)
	}
	code := s.wait()
	r := result{args: s.args, code: code, stdout: s.stdout.String(), stderr: s.stderr.String()}
	r.expectExit(t, 0)
	r.guestHealthy(t)
	r.expectLine(t, "BYE")
	m := regexp.MustCompile(`IRQS (\d+)`).FindStringSubmatch(r.stdout)
	if m == nil || m[1] == "0" {
		t.Fatalf("the guest saw no receive interrupt\n%s", r.describe())
	}
}

var pciLine = regexp.MustCompile(`^PCI 00:([0-9a-f]{2})\.([0-7]) ([0-9a-f]{4}):([0-9a-f]{4}) ([0-9a-f]{6})$`)

// pciFunctions returns vendor:device -> how many functions have it, checking the guest's own count.
func pciFunctions(t *testing.T, r result) map[string]int {
	t.Helper()
	found := map[string]int{}
	n := 0
	for _, l := range serialLines(r.stdout) {
		if m := pciLine.FindStringSubmatch(l); m != nil {
			found[m[3]+":"+m[4]]++
			n++
		}
	}
	r.expectLine(t, fmt.Sprintf("PCI-DONE %d", n))
	return found
}

func TestPCIEnumeration(t *testing.T) {
	t.Run("default devices", func(t *testing.T) {
		r := runGuest(t, "pci")
		r.expectExit(t, 0)
		r.guestHealthy(t)
		found := pciFunctions(t, r)
		for id, what := range map[string]string{"1af4:1044": "virtio-rng", "1af4:1043": "virtio-console"} {
			if found[id] != 1 {
				t.Errorf("%s (%s) appears %d times on bus 0, want once\n%s", what, id, found[id], r.describe())
			}
		}
		if found["1af4:1042"] != 0 {
			t.Errorf("a virtio-blk function without --disk\n%s", r.describe())
		}
		checkBARs(t, r)
	})
	t.Run("two disks", func(t *testing.T) {
		a := writeFile(t, "a.img", nil, 1*mib)
		b := writeFile(t, "b.img", nil, 2*mib)
		r := runGuest(t, "pci", "--disk", a, "--disk", b+",ro")
		r.expectExit(t, 0)
		r.guestHealthy(t)
		if got := pciFunctions(t, r)["1af4:1042"]; got != 2 {
			t.Errorf("%d virtio-blk functions for two --disk, want 2\n%s", got, r.describe())
		}
		checkBARs(t, r)
	})
}

var barLine = regexp.MustCompile(`^BAR 00:([0-9a-f]{2}\.[0-7]) (\d) ([0-9a-f]{16}) ([0-9a-f]{16}) (mem32|mem64)$`)

// checkBARs checks the memory BARs the guest sized: every virtio function has one, each is a power of two in
// size, naturally aligned, inside the PCI MMIO window, and no two overlap.
func checkBARs(t *testing.T, r result) {
	t.Helper()
	type bar struct {
		fn         string
		addr, size uint64
	}
	var bars []bar
	withBAR := map[string]bool{}
	for _, l := range serialLines(r.stdout) {
		if l == "BAR-RESTORE-FAIL" {
			t.Errorf("a BAR did not read back its address after sizing\n%s", r.describe())
		}
		m := barLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		var b bar
		b.fn = m[1]
		fmt.Sscanf(m[3]+" "+m[4], "%x %x", &b.addr, &b.size)
		withBAR[b.fn] = true
		if b.size == 0 || b.size&(b.size-1) != 0 || b.addr%b.size != 0 {
			t.Errorf("%s: size not a power of two, or address not aligned to it", l)
		}
		if b.addr < 0xc0000000 || b.addr+b.size > 0xe0000000 {
			t.Errorf("%s: outside the PCI MMIO window [0xc0000000, 0xe0000000)", l)
		}
		for _, o := range bars {
			if b.addr < o.addr+o.size && o.addr < b.addr+b.size {
				t.Errorf("%s overlaps the BAR of %s at %#x", l, o.fn, o.addr)
			}
		}
		bars = append(bars, b)
	}
	for _, l := range serialLines(r.stdout) {
		if m := pciLine.FindStringSubmatch(l); m != nil && m[3] == "1af4" && !withBAR[m[1]+"."+m[2]] {
			t.Errorf("virtio function 00:%s.%s has no memory BAR\n%s", m[1], m[2], r.describe())
		}
	}
}

// The msix guest drives virtio-rng as a virtio 1.x driver and takes its queue interrupt as an MSI-X message.
func TestVirtioMSIX(t *testing.T) {
	r := runGuest(t, "msix")
	r.expectExit(t, 0)
	r.guestHealthy(t)
	r.expectLine(t, "MSIX-OK n=16")
	for _, l := range serialLines(r.stdout) {
		if l == "RNG-BYTES "+strings.Repeat("00", 16) {
			t.Errorf("virtio-rng returned 16 zero bytes\n%s", r.describe())
		}
	}
}

var madtLAPIC = regexp.MustCompile(`(?m)^MADT lapic uid=[0-9a-f]{2} id=([0-9a-f]{2}) flags=([0-9a-f]{8})\r?$`)

func TestCPUsInMADT(t *testing.T) {
	for _, n := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("cpus=%d", n), func(t *testing.T) {
			r := runGuest(t, "cpus", "--cpus", fmt.Sprint(n))
			r.expectExit(t, 0)
			r.guestHealthy(t)
			r.expectLine(t, fmt.Sprintf("CPUS %d", n))
			ids := map[string]bool{}
			for _, m := range madtLAPIC.FindAllStringSubmatch(r.stdout, -1) {
				if ids[m[1]] {
					t.Errorf("APIC ID %s listed twice in the MADT\n%s", m[1], r.describe())
				}
				ids[m[1]] = true
			}
			if !regexp.MustCompile(`(?m)^MADT ioapic id=[0-9a-f]{2} addr=fec00000 gsibase=0\r?$`).MatchString(r.stdout) {
				t.Errorf("the MADT has no IOAPIC at 0xfec00000 with GSI base 0\n%s", r.describe())
			}
		})
	}
}

// The smp guest starts the application processors as an OS does (INIT, STARTUP IPI, real-mode trampoline).
func TestSMPStartup(t *testing.T) {
	for _, n := range []int{2, 4} {
		t.Run(fmt.Sprintf("cpus=%d", n), func(t *testing.T) {
			r := runGuest(t, "smp", "--cpus", fmt.Sprint(n))
			r.expectExit(t, 0)
			r.guestHealthy(t)
			r.expectLine(t, fmt.Sprintf("APS %d", n-1))
			r.expectLine(t, "APS-OK")
		})
	}
}
