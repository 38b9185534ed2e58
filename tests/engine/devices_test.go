package engine_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// The echo guest takes COM1's receive interrupt through the IOAPIC; input typed on paddock's stdin reaches it.
func TestSerialInputInterrupts(t *testing.T) {
	requireKVM(t)
	s := start(t, newEnv(t), "run", "--kernel", buildGuest(t, "echo"), "--serial", "stdio")
	s.waitFor("READY")
	if _, err := s.stdin.Write([]byte("ab\n")); err != nil {
		t.Fatalf("writing to paddock's stdin: %v", err)
	}
	s.waitFor("<a><b><#0a>")
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
	})
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
