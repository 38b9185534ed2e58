package x86

// API overview for the machine code (the package comment lives in layout.go).
//
// Direct Linux boot, in this order, once guest RAM exists and before any vCPU runs:
//
//	rsdp, err := x86.WriteTables(mem, ncpus)           // MP table + ACPI (RSDP, XSDT, RSDT, FADT, FACS, DSDT, MADT)
//	info, err := x86.LoadKernel(mem, kernel, initrd, cmdline, x86.LoadOptions{RSDP: rsdp, Framebuffer: fb})
//	for each vCPU i:
//	    cpu.SetCPUID(x86.GuestCPUID(supported, i, ncpus, model))
//	    cpu.SetMSRs(x86.BootMSRs(thatCPUID))
//	boot CPU only:
//	    sregs, _ := cpu.Sregs()
//	    regs, sregs := x86.BootCPUState(info, sregs)
//	    cpu.SetSregs(sregs); cpu.SetRegs(regs)
//
// Other vCPUs stay in KVM's reset state: the guest wakes them with INIT/SIPI through the in-kernel LAPIC.
//
// LoadKernel accepts a bzImage (boot protocol >= 2.12, 64-bit entry at load address + 0x200, zero page in RSI)
// or an ELF vmlinux (PVH entry from the Xen PHYS32_ENTRY note, hvm_start_info in EBX; without the note, the
// 64-bit entry at e_entry with a zero page). It writes the GDT and the identity-mapped page tables for the first
// 4 GiB too, so BootCPUState only computes registers.
//
// Interrupt wiring the tables describe: ISA IRQ n reaches IOAPIC pin n, except IRQ 0 (the PIT), which reaches
// pin 2 (IOAPICPin gives the mapping; KVM's default GSI routing is the identity, so the machine installs the
// routing GSI 0 -> IOAPIC pin 2). The ACPI SCI is ISA IRQ 9, level-triggered, active high. The PM1 device writes
// SLP_TYP = SleepTypeS5 with SLP_EN for power-off, and raises PWRBTN_STS for the power button.
