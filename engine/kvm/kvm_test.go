package kvm

import (
	"errors"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestStructSizes(t *testing.T) {
	for name, got := range map[string]uintptr{
		"kvm_regs": unsafe.Sizeof(Regs{}), "kvm_sregs": unsafe.Sizeof(Sregs{}), "kvm_fpu": unsafe.Sizeof(FPU{}),
		"kvm_segment": unsafe.Sizeof(Segment{}), "kvm_dtable": unsafe.Sizeof(DTable{}),
	} {
		want := map[string]uintptr{"kvm_regs": 144, "kvm_sregs": 312, "kvm_fpu": 416, "kvm_segment": 24, "kvm_dtable": 16}[name]
		if got != want {
			t.Errorf("sizeof(%s) = %d, want %d", name, got, want)
		}
	}
}

// openOrSkip opens /dev/kvm, skipping (or failing under PADDOCK_REQUIRE_KVM=1) where it is absent.
func openOrSkip(t *testing.T) *System {
	t.Helper()
	s, err := Open("/dev/kvm")
	if err != nil {
		if os.Getenv("PADDOCK_REQUIRE_KVM") == "1" {
			t.Fatalf("PADDOCK_REQUIRE_KVM=1 but KVM is not usable: %v", err)
		}
		t.Skipf("skipping: needs /dev/kvm: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRealModeOut runs three real-mode instructions and sees their port write.
func TestRealModeOut(t *testing.T) {
	s := openOrSkip(t)
	vm, err := s.CreateVM()
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	mem, err := unix.Mmap(-1, 0, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	if err := vm.SetMemoryRegion(0, 0, 0, mem); err != nil {
		t.Fatal(err)
	}
	copy(mem[0x1000:], []byte{0xba, 0xf8, 0x03, 0xb0, 0x41, 0xee, 0xf4}) // mov dx,0x3f8; mov al,'A'; out dx,al; hlt
	cpu, err := vm.CreateVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer cpu.Close()
	sr, err := cpu.Sregs()
	if err != nil {
		t.Fatal(err)
	}
	sr.CS.Base, sr.CS.Selector = 0, 0
	if err := cpu.SetSregs(sr); err != nil {
		t.Fatal(err)
	}
	if err := cpu.SetRegs(Regs{RIP: 0x1000, RFLAGS: 2}); err != nil {
		t.Fatal(err)
	}
	var out []byte
	for i := 0; i < 10; i++ {
		if err := cpu.Run(); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			t.Fatal(err)
		}
		switch cpu.ExitReason() {
		case ExitIO:
			e, ok := cpu.IO()
			if !ok || !e.Out || e.Port != 0x3f8 {
				t.Fatalf("unexpected I/O exit %+v", e)
			}
			out = append(out, e.Data...)
		case ExitHLT:
			if string(out) != "A" {
				t.Fatalf("guest wrote %q, want %q", out, "A")
			}
			return
		default:
			t.Fatalf("unexpected exit %s", ExitName(cpu.ExitReason()))
		}
	}
	t.Fatal("guest did not halt")
}

func TestDetectAccel(t *testing.T) {
	dir := t.TempDir()
	cpuinfo := dir + "/cpuinfo"
	os.WriteFile(cpuinfo, []byte("processor: 0\nflags\t\t: fpu vme svm lm\n"), 0o644)
	os.MkdirAll(dir+"/mod/kvm_amd", 0o755)
	if a := detectAccel(dir+"/mod", cpuinfo); !a.Hardware || a.Module != "kvm_amd" {
		t.Errorf("kvm_amd with svm: %+v", a)
	}
	os.RemoveAll(dir + "/mod/kvm_amd")
	os.MkdirAll(dir+"/mod/kvm_pvm", 0o755)
	if a := detectAccel(dir+"/mod", cpuinfo); a.Hardware || a.Module != "kvm_pvm" {
		t.Errorf("kvm_pvm: %+v", a)
	}
}
