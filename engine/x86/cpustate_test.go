package x86

import (
	"testing"

	"paddock/engine/guestmem"
	"paddock/engine/kvm"
)

// walk translates a virtual address through the 4-level page tables in guest memory, as the MMU does.
func walk(t *testing.T, mem *guestmem.Memory, cr3, va uint64) (uint64, bool) {
	t.Helper()
	table := cr3 &^ 0xFFF
	for level := 3; level >= 0; level-- {
		idx := (va >> (12 + 9*uint(level))) & 0x1FF
		e := u64(t, mem, table+idx*8)
		if e&ptePresent == 0 || e&pteWritable == 0 {
			return 0, false
		}
		if level == 1 && e&pteHuge != 0 {
			return e&^0x1FFFFF&^(1<<63) | va&0x1FFFFF, true
		}
		table = e &^ 0xFFF &^ (1 << 63)
	}
	return table | va&0xFFF, true
}

// kvmResetSregs is the state KVM gives a fresh vCPU (real mode at the reset vector).
func kvmResetSregs() kvm.Sregs {
	seg := kvm.Segment{Limit: 0xFFFF, Type: 3, Present: 1, S: 1}
	return kvm.Sregs{
		CS: kvm.Segment{Base: 0xFFFF0000, Limit: 0xFFFF, Selector: 0xF000, Type: 11, Present: 1, S: 1},
		DS: seg, ES: seg, FS: seg, GS: seg, SS: seg,
		TR:  kvm.Segment{Limit: 0xFFFF, Type: 11, Present: 1},
		LDT: kvm.Segment{Limit: 0xFFFF, Type: 2, Present: 1},
		GDT: kvm.DTable{Limit: 0xFFFF}, IDT: kvm.DTable{Limit: 0xFFFF},
		CR0: 0x6000_0010, APICBase: 0xFEE0_0900,
	}
}

func TestBootCPUState64(t *testing.T) {
	mem := newMem(t, 64<<20)
	info, err := LoadKernel(mem, makeBzImage(defaultBz()), nil, "", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	regs, s := BootCPUState(info, kvmResetSregs())
	if regs.RIP != 0x100_0200 || regs.RSI != ZeroPageAddr || regs.RFLAGS != 2 || regs.RSP != BootStackTop {
		t.Errorf("regs %+v", regs)
	}
	if s.CR0&(cr0PE|cr0PG) != cr0PE|cr0PG || s.CR0&(cr0CD|cr0NW) != 0 || s.CR4&cr4PAE == 0 ||
		s.EFER&(eferLME|eferLMA) != eferLME|eferLMA || s.CR3 != PML4Addr {
		t.Errorf("control registers CR0 %#x CR4 %#x EFER %#x CR3 %#x", s.CR0, s.CR4, s.EFER, s.CR3)
	}
	if s.CS.Selector != 0x10 || s.CS.L != 1 || s.CS.DB != 0 || s.CS.Present != 1 || s.CS.Type != 11 {
		t.Errorf("CS %+v", s.CS)
	}
	for _, seg := range []kvm.Segment{s.DS, s.ES, s.SS, s.FS, s.GS} {
		if seg.Selector != 0x18 || seg.Type != 3 || seg.Present != 1 || seg.Base != 0 {
			t.Errorf("data segment %+v", seg)
		}
	}
	if s.TR.Type != 11 || s.APICBase != 0xFEE0_0900 {
		t.Error("state KVM owns (TR, APIC base) was not kept")
	}
	// The GDT in memory matches the hidden segment state.
	if s.GDT.Base != BootGDTAddr || s.GDT.Limit != 31 {
		t.Fatalf("GDT %+v", s.GDT)
	}
	if d := u64(t, mem, BootGDTAddr+0x10); d>>53&1 != 1 || d>>47&1 != 1 || d>>43&1 != 1 {
		t.Errorf("GDT[0x10] = %#x is not present 64-bit code", d)
	}
	if d := u64(t, mem, BootGDTAddr+0x18); d>>47&1 != 1 || d>>43&1 != 0 || d>>41&1 != 1 {
		t.Errorf("GDT[0x18] = %#x is not present writable data", d)
	}
	// Identity map of the first 4 GiB, including the top of the MMIO hole.
	for _, va := range []uint64{0, ZeroPageAddr, 0x100_0200, 0x3FF_FFFF, 0xBFFF_F123, 0xFEE0_0000, 0xFFFF_FFFF} {
		pa, ok := walk(t, mem, s.CR3, va)
		if !ok || pa != va {
			t.Errorf("va %#x -> %#x (mapped %v), want identity", va, pa, ok)
		}
	}
	if _, ok := walk(t, mem, s.CR3, 1<<32); ok {
		t.Error("4 GiB is mapped; the boot tables should cover the first 4 GiB only")
	}
}

func TestBootCPUStatePVH(t *testing.T) {
	info := BootInfo{Kind: EntryPVH, Entry: 0x100_0040, Params: PVHStartInfo}
	regs, s := BootCPUState(info, kvmResetSregs())
	if regs.RIP != 0x100_0040 || regs.RBX != PVHStartInfo || regs.RFLAGS != 2 {
		t.Errorf("regs %+v", regs)
	}
	if s.CR0&cr0PE == 0 || s.CR0&cr0PG != 0 || s.CR4 != 0 || s.EFER != 0 {
		t.Errorf("CR0 %#x CR4 %#x EFER %#x: want protected mode, paging off", s.CR0, s.CR4, s.EFER)
	}
	if s.CS.Selector != BootCS32 || s.CS.DB != 1 || s.CS.L != 0 || s.CS.Limit != 0xFFFF_FFFF || s.CS.G != 1 || s.SS.DB != 1 {
		t.Errorf("CS %+v SS %+v: want flat 32-bit segments", s.CS, s.SS)
	}
}
