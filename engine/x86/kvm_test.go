package x86

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"paddock/engine/guestmem"
	"paddock/engine/kvm"
)

func openKVM(t *testing.T) *kvm.System {
	t.Helper()
	s, err := kvm.Open("/dev/kvm")
	if err != nil {
		if os.Getenv("PADDOCK_REQUIRE_KVM") == "1" {
			t.Fatalf("PADDOCK_REQUIRE_KVM=1 but KVM is not usable: %v", err)
		}
		t.Skipf("skipping: needs /dev/kvm: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// bootOnKVM loads kernel through LoadKernel, enters it with BootCPUState on a real vCPU with the CPUID and MSRs
// this package builds, and returns what the guest wrote to COM1 before it halted, and its final registers.
func bootOnKVM(t *testing.T, kernel []byte) (string, kvm.Regs, kvm.Sregs) {
	t.Helper()
	sys := openKVM(t)
	vm, err := sys.CreateVM()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Close() })
	mem, err := guestmem.Allocate(guestmem.Range{GPA: 0, Size: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	if err := vm.SetMemoryRegion(0, 0, 0, mem.Regions()[0].Host); err != nil {
		t.Fatal(err)
	}
	rsdp, err := WriteTables(mem, 1)
	if err != nil {
		t.Fatal(err)
	}
	info, err := LoadKernel(mem, kernel, []byte("initrd"), "console=ttyS0", LoadOptions{RSDP: rsdp})
	if err != nil {
		t.Fatal(err)
	}
	cpu, err := vm.CreateVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cpu.Close() })
	supported, err := sys.SupportedCPUID()
	if err != nil {
		t.Fatal(err)
	}
	cpuid := GuestCPUID(supported, 0, 1, Baseline)
	if err := cpu.SetCPUID(cpuid); err != nil {
		t.Fatal(err)
	}
	if err := cpu.SetMSRs(BootMSRs(cpuid)); err != nil {
		t.Fatal(err)
	}
	sregs, err := cpu.Sregs()
	if err != nil {
		t.Fatal(err)
	}
	regs, sregs := BootCPUState(info, sregs)
	if err := cpu.SetSregs(sregs); err != nil {
		t.Fatal(err)
	}
	if err := cpu.SetRegs(regs); err != nil {
		t.Fatal(err)
	}
	var out []byte
	for i := 0; i < 100; i++ {
		if err := cpu.Run(); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			t.Fatal(err)
		}
		switch cpu.ExitReason() {
		case kvm.ExitIO:
			e, ok := cpu.IO()
			if !ok || !e.Out || e.Port != PortCOM1 {
				t.Fatalf("unexpected I/O exit %+v", e)
			}
			out = append(out, e.Data...)
		case kvm.ExitHLT:
			r, err := cpu.Regs()
			if err != nil {
				t.Fatal(err)
			}
			s, err := cpu.Sregs()
			if err != nil {
				t.Fatal(err)
			}
			return string(out), r, s
		default:
			r, _ := cpu.Regs()
			t.Fatalf("exit %s at RIP %#x after output %q (internal error %+v)",
				kvm.ExitName(cpu.ExitReason()), r.RIP, out, cpu.InternalError())
		}
	}
	t.Fatal("guest did not halt")
	return "", kvm.Regs{}, kvm.Sregs{}
}

// TestKVMBoot64 enters a bzImage whose "kernel" reads the zero page through RSI, writes two bytes of its "HdrS"
// signature to COM1, and loads a 64-bit immediate only long mode can decode.
func TestKVMBoot64(t *testing.T) {
	payload := []byte{
		0x8B, 0x86, 0x02, 0x02, 0x00, 0x00, // mov eax, [rsi+0x202]
		0x66, 0xBA, 0xF8, 0x03, // mov dx, 0x3f8
		0xEE,             // out dx, al
		0xC1, 0xE8, 0x08, // shr eax, 8
		0xEE,                                                       // out dx, al
		0x48, 0xB8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, // movabs rax, 0x1122334455667788
		0xF4, // hlt
	}
	p := defaultBz()
	p.initSize = 1 << 20
	img := makeBzImage(p)
	copy(img[5*512+startupOffset64:], payload)
	out, regs, sregs := bootOnKVM(t, img)
	if out != "Hd" {
		t.Errorf("guest wrote %q, want %q (the zero page's signature through RSI)", out, "Hd")
	}
	if regs.RAX != 0x1122334455667788 {
		t.Errorf("RAX = %#x: the payload did not run in 64-bit mode", regs.RAX)
	}
	if sregs.EFER&eferLMA == 0 {
		t.Errorf("EFER %#x: long mode not active", sregs.EFER)
	}
}

// TestKVMBootPVH enters an ELF kernel at its PVH entry in 32-bit protected mode; the payload writes the low byte
// of hvm_start_info's magic, read through EBX.
func TestKVMBootPVH(t *testing.T) {
	payload := []byte{
		0x8B, 0x03, // mov eax, [ebx]
		0x66, 0xBA, 0xF8, 0x03, // mov dx, 0x3f8
		0xEE, // out dx, al
		0xF4, // hlt
	}
	img := makeELF(0x100_0000, []elfSeg{
		{typ: ptLoad, paddr: 0x100_0000, data: payload, memsz: 0x1000},
		{typ: ptNote, data: xenNote(18, binary.LittleEndian.AppendUint64(nil, 0x100_0000)), align: 4},
	})
	out, _, sregs := bootOnKVM(t, img)
	if out != "\x78" {
		t.Errorf("guest wrote %q, want 0x78 (hvm_start_info magic through EBX)", out)
	}
	if sregs.CR0&cr0PG != 0 || sregs.EFER&eferLMA != 0 {
		t.Errorf("CR0 %#x EFER %#x: PVH entry must run with paging off", sregs.CR0, sregs.EFER)
	}
}
