// Package x86 knows the PC platform a Paddock guest sees: the guest-physical memory map, the Linux boot
// protocol, the CPU's start-up state, and the firmware tables (MP, ACPI) that describe the machine.
package x86

// The guest-physical memory map (DESIGN.md, "The engine"). RAM runs from 0 up to MMIOHoleStart; what does not
// fit there continues at HighRAMStart. The hole between holds every device address.
const (
	MMIOHoleStart = 0xC000_0000   // 3 GiB
	HighRAMStart  = 0x1_0000_0000 // 4 GiB

	// PCIMMIOStart..PCIMMIOEnd is where the engine places PCI memory BARs.
	PCIMMIOStart = 0xC000_0000
	PCIMMIOEnd   = 0xE000_0000
	// FramebufferStart is the guest-physical address of the linear framebuffer's own memory slot.
	FramebufferStart = 0xE000_0000
	FramebufferMax   = 0x0400_0000 // 64 MiB: 4K at 32 bpp with room to spare
	IOAPICBase       = 0xFEC0_0000
	LAPICBase        = 0xFEE0_0000
	// KVM needs three pages for the real-mode TSS and one for the identity map on Intel VMX; they sit just below
	// the firmware ROM.
	KVMIdentityMapAddr = 0xFFFB_C000
	KVMTSSAddr         = 0xFFFB_D000
	// FirmwareTop is the end of the 4 GiB space, where the BIOS ROM is mapped so the reset vector lands in it.
	FirmwareTop = 0x1_0000_0000
)

// Low-memory addresses used for direct (firmware-less) Linux boot. All lie below the EBDA at 0x9FC00.
const (
	BootGDTAddr     = 0x0500
	BootStackTop    = 0x8FF0 // grows down towards the zero page; the kernel sets up its own stack at once
	ZeroPageAddr    = 0x7000
	PML4Addr        = 0x9000
	PDPTAddr        = 0xA000
	PDAddr          = 0xB000 // four page directories, 0xB000..0xEFFF, map the first 4 GiB with 2 MiB pages
	PVHStartInfo    = 0x6000 // hvm_start_info and its memory map, for the PVH entry
	CmdlineAddr     = 0x2_0000
	CmdlineMax      = 0x1_0000 // 64 KiB, room for any command line the kernel accepts
	EBDAStart       = 0x9_FC00
	BIOSTablesStart = 0xE_0000 // MP and ACPI tables live in the BIOS area, where the kernel scans for them
	BIOSTablesEnd   = 0x10_0000
	KernelLoadAddr  = 0x10_0000 // 1 MiB, the protected-mode kernel's traditional home
)

// Legacy I/O ports and the interrupt lines (GSIs) wired to them.
const (
	PortCOM1      = 0x3F8
	IRQCOM1       = 4
	PortI8042     = 0x60 // data; command/status at 0x64
	IRQKeyboard   = 1
	IRQMouse      = 12
	PortRTC       = 0x70 // index; data at 0x71
	IRQRTC        = 8
	PortPCIConfig = 0xCF8 // CONFIG_ADDRESS; CONFIG_DATA at 0xCFC..0xCFF
	// ACPI fixed hardware: PM1a event block (status, enable) and control block.
	PortACPIPM1aEvent   = 0x600
	PortACPIPM1aControl = 0x604
	IRQACPISCI          = 9
)
