package engine_test

import (
	"fmt"
	"strings"
	"testing"
)

const (
	mib        = 1 << 20
	ebdaStart  = 0x9fc00
	biosStart  = 0xe0000
	highMemory = 0x100000
	holeStart  = 0xc0000000
	fourGiB    = 0x100000000
)

type e820Entry struct {
	addr, size uint64
	typ        int
}

func (e e820Entry) end() uint64 { return e.addr + e.size }

// e820 parses the hello guest's "E820 addr size type" lines and checks they agree with its "E820 COUNT n".
func e820(t *testing.T, r result) []e820Entry {
	t.Helper()
	var entries []e820Entry
	count := -1
	for _, l := range serialLines(r.stdout) {
		if _, err := fmt.Sscanf(l, "E820 COUNT %d", &count); err == nil {
			continue
		}
		var e e820Entry
		if n, _ := fmt.Sscanf(l, "E820 %x %x %d", &e.addr, &e.size, &e.typ); n == 3 {
			entries = append(entries, e)
		}
	}
	if count <= 0 || count != len(entries) {
		t.Fatalf("e820: the zero page says %d entries, the guest listed %d\n%s", count, len(entries), r.describe())
	}
	return entries
}

// covered reports whether the entries of the given types together cover [from, to).
func covered(entries []e820Entry, from, to uint64, typ func(int) bool) bool {
	for from < to {
		advanced := false
		for _, e := range entries {
			if typ(e.typ) && e.addr <= from && e.end() > from {
				from = e.end()
				advanced = true
			}
		}
		if !advanced {
			return false
		}
	}
	return true
}

func isRAM(typ int) bool  { return typ == 1 }
func notRAM(typ int) bool { return typ != 1 }
func ramOverlaps(entries []e820Entry, from, to uint64) bool {
	for _, e := range entries {
		if isRAM(e.typ) && e.addr < to && e.end() > from {
			return true
		}
	}
	return false
}

func checkMemoryMap(t *testing.T, r result, memoryMiB uint64) {
	t.Helper()
	entries := e820(t, r)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("e820: "+format+"\n%s", append(args, r.describe())...)
	}
	if !covered(entries, 0, 0x1000, isRAM) {
		fail("no RAM at address 0")
	}
	if ramOverlaps(entries, ebdaStart, highMemory) {
		fail("RAM declared in [0x9fc00, 1 MiB), where the EBDA, VGA hole and BIOS area are")
	}
	if !covered(entries, biosStart, highMemory, notRAM) {
		fail("the BIOS area [0xe0000, 1 MiB), which holds the ACPI tables, is not declared reserved")
	}
	if !covered(entries, highMemory, highMemory+mib, isRAM) {
		fail("no RAM from 1 MiB, where the kernel is loaded")
	}
	if ramOverlaps(entries, holeStart, fourGiB) {
		fail("RAM declared in the 3-4 GiB MMIO hole")
	}
	var total uint64
	for _, e := range entries {
		if isRAM(e.typ) {
			total += e.size
		}
	}
	want := memoryMiB * mib
	if total > want || total < want-mib {
		fail("RAM adds up to %#x bytes, want %d MiB less at most 1 MiB of low-memory holes", total, memoryMiB)
	}
	if memoryMiB*mib > holeStart && !covered(entries, fourGiB, fourGiB+mib, isRAM) {
		fail("%d MiB of memory, but no RAM from 4 GiB", memoryMiB)
	}
}

func TestHelloBootProtocol(t *testing.T) {
	const cmdline = "console=ttyS0 paddock.test=hello  answer=42 path=/a/b-c_d"
	r := runGuest(t, "hello", "--memory", "256", "--append", cmdline)
	r.expectExit(t, 0)
	r.guestHealthy(t)
	r.expectLine(t, "PADDOCK-GUEST-OK")
	r.expectLine(t, "CMDLINE ["+cmdline+"]")
	r.expectLine(t, "SEGMENTS cs=0010 ds=0018 ss=0018")
	r.expectLine(t, "ENTRY 0000000000100200")
	r.expectLine(t, "INITRD addr=0000000000000000 size=0000000000000000")
	for _, l := range serialLines(r.stdout) {
		if strings.HasPrefix(l, "ZEROPAGE ") && !strings.HasSuffix(l, " HdrS ok") {
			t.Errorf("%s: the zero page does not carry the kernel's setup header\n%s", l, r.describe())
		}
		if strings.HasPrefix(l, "ACPI-RSDP ") && l == "ACPI-RSDP 0000000000000000" {
			t.Errorf("boot_params.acpi_rsdp_addr is not set\n%s", r.describe())
		}
	}
	checkMemoryMap(t, r, 256)
}

// The e820 map follows --memory across the 3 GiB boundary: the smallest VM, RAM that just fills the space below
// the MMIO hole, one MiB more (which must land at 4 GiB), and 4 GiB.
func TestHelloMemorySizes(t *testing.T) {
	for _, mem := range []uint64{16, 3072, 3073, 4096} {
		t.Run(fmt.Sprintf("%dMiB", mem), func(t *testing.T) {
			r := runGuest(t, "hello", "--memory", fmt.Sprint(mem))
			r.expectExit(t, 0)
			r.guestHealthy(t)
			r.expectLine(t, "PADDOCK-GUEST-OK")
			checkMemoryMap(t, r, mem)
		})
	}
}

func TestHelloInitrd(t *testing.T) {
	head := []byte("PADDOCK-INITRD-1")
	const size = 3*mib + 123
	initrd := writeFile(t, "initrd.img", head, size)
	r := runGuest(t, "hello", "--memory", "128", "--initrd", initrd)
	r.expectExit(t, 0)
	r.guestHealthy(t)
	var line string
	for _, l := range serialLines(r.stdout) {
		if strings.HasPrefix(l, "INITRD ") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no INITRD line\n%s", r.describe())
	}
	addr := field(t, line, "addr", 16)
	if got := field(t, line, "size", 16); got != size {
		t.Errorf("ramdisk_size = %d, want %d", got, size)
	}
	if got, want := line[strings.Index(line, "head=")+5:], fmt.Sprintf("%x", head); got != want {
		t.Errorf("the initrd in guest memory starts %s, the file starts %s", got, want)
	}
	if addr%4096 != 0 || addr < highMemory || addr+size > 128*mib || addr+size > 0x7fffffff {
		t.Errorf("initrd at %#x..%#x: not page aligned, or outside RAM or initrd_addr_max", addr, addr+size)
	}
}
