package x86

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"paddock/engine/guestmem"
)

// EntryKind says how the boot CPU enters the kernel.
type EntryKind int

const (
	// Entry64 is the 64-bit boot protocol: long mode, identity-mapped paging, RSI = zero page.
	Entry64 EntryKind = iota
	// EntryPVH is the PVH entry: 32-bit protected mode, paging off, EBX = hvm_start_info.
	EntryPVH
)

func (k EntryKind) String() string {
	if k == EntryPVH {
		return "PVH"
	}
	return "64-bit"
}

// LoadOptions are the optional parts of a direct boot.
type LoadOptions struct {
	// RSDP is the ACPI root pointer's address (from WriteTables); 0 leaves the kernel to scan for it.
	RSDP uint64
	// Framebuffer, if set, is described to the kernel as its boot console (64-bit entry only).
	Framebuffer *Framebuffer
}

// BootInfo says where LoadKernel put things and how to enter the kernel.
type BootInfo struct {
	Kind  EntryKind
	Entry uint64 // RIP (Entry64) or EIP (EntryPVH)
	// Params is the zero page (Entry64) or the hvm_start_info (EntryPVH).
	Params      uint64
	KernelStart uint64
	KernelEnd   uint64 // end of the memory the kernel may use while it starts (init_size for a bzImage)
	InitrdAddr  uint64
	InitrdSize  uint64
	Cmdline     uint64
}

const (
	pageSize = 4096
	// elfCmdlineMax is the kernel's own limit (COMMAND_LINE_SIZE less the NUL) when no setup header says otherwise.
	elfCmdlineMax = 2047
	// elfInitrdAddrMax is x86-64 Linux's initrd_addr_max, used when the kernel has no setup header to say so.
	elfInitrdAddrMax = 0x7FFF_FFFF
	heapEndPtr       = 0xFE00
	startupOffset64  = 0x200 // startup_64 sits this far into the protected-mode kernel
)

// Zero page (struct boot_params) fields outside the setup header.
const (
	zpScreenInfo      = 0x000
	zpACPIRSDPAddr    = 0x070
	zpExtRamdiskImage = 0x0C0
	zpExtRamdiskSize  = 0x0C4
	zpExtCmdLinePtr   = 0x0C8
	zpE820Entries     = 0x1E8
	zpSetupData       = 0x250
	zpE820Table       = 0x2D0
	e820EntrySize     = 20
)

// LoadKernel loads a Linux kernel (a bzImage, or an ELF vmlinux) with its initrd and command line into guest
// memory, and writes everything the boot CPU needs in memory: zero page or hvm_start_info, GDT, page tables.
func LoadKernel(mem *guestmem.Memory, kernel, initrd []byte, cmdline string, opts LoadOptions) (BootInfo, error) {
	if isELF(kernel) {
		return loadELF(mem, kernel, initrd, cmdline, opts)
	}
	return loadBzImage(mem, kernel, initrd, cmdline, opts)
}

func loadBzImage(mem *guestmem.Memory, data, initrd []byte, cmdline string, opts LoadOptions) (BootInfo, error) {
	var info BootInfo
	h, err := ParseBzImage(data)
	if err != nil {
		return info, err
	}
	if err := checkCmdline(cmdline, uint64(h.CmdlineSize)); err != nil {
		return info, err
	}

	load := uint64(KernelLoadAddr)
	if h.PrefAddress != 0 {
		load = h.PrefAddress
	}
	if h.Relocatable {
		load = max(load, KernelLoadAddr)
		a := uint64(h.KernelAlignment)
		if load > HighRAMStart {
			return info, fmt.Errorf("load kernel: preferred address %#x is above 4 GiB", load)
		}
		load = (load + a - 1) &^ (a - 1)
	} else if load < KernelLoadAddr {
		return info, fmt.Errorf("load kernel: non-relocatable kernel wants address %#x, below 1 MiB", load)
	}
	need := max(uint64(h.InitSize), h.KernelSize())
	if load >= HighRAMStart || need > HighRAMStart-load {
		return info, fmt.Errorf("load kernel: %#x+%#x does not fit below 4 GiB", load, need)
	}
	if _, err := mem.Slice(load, need); err != nil {
		return info, fmt.Errorf("load kernel: it needs guest RAM at %#x-%#x (init_size %d MiB), which this VM lacks: %w",
			load, load+need, need>>20, err)
	}
	dst, _ := mem.Slice(load, h.KernelSize())
	copy(dst, data[h.SetupSize():])
	info = BootInfo{Kind: Entry64, Entry: load + startupOffset64, Params: ZeroPageAddr,
		KernelStart: load, KernelEnd: load + need, Cmdline: CmdlineAddr}

	e820, err := MemoryMap(mem)
	if err != nil {
		return BootInfo{}, err
	}
	if err := placeInitrd(mem, &info, initrd, e820, uint64(h.InitrdAddrMax)); err != nil {
		return BootInfo{}, err
	}
	if err := writeCmdline(mem, cmdline); err != nil {
		return BootInfo{}, err
	}
	zp := make([]byte, pageSize)
	copy(zp[hdrSetupSects:], data[hdrSetupSects:h.HeaderEnd])
	binary.LittleEndian.PutUint32(zp[hdrCode32Start:], uint32(load))
	if h.Version >= 0x020E {
		binary.LittleEndian.PutUint64(zp[zpACPIRSDPAddr:], opts.RSDP)
	}
	if err := finishZeroPage(mem, zp, info, e820, opts); err != nil {
		return BootInfo{}, err
	}
	if err := writeBootPageTables(mem); err != nil {
		return BootInfo{}, err
	}
	return info, nil
}

func loadELF(mem *guestmem.Memory, data, initrd []byte, cmdline string, opts LoadOptions) (BootInfo, error) {
	var info BootInfo
	img, err := ParseELF(data)
	if err != nil {
		return info, err
	}
	if err := checkCmdline(cmdline, elfCmdlineMax); err != nil {
		return info, err
	}
	info.KernelStart = ^uint64(0)
	for _, s := range img.Segments {
		if s.PAddr < KernelLoadAddr {
			return info, fmt.Errorf("load kernel: segment at %#x would overwrite the boot structures below 1 MiB", s.PAddr)
		}
		dst, err := mem.Slice(s.PAddr, s.MemSize)
		if err != nil {
			return info, fmt.Errorf("load kernel: segment %#x+%#x is outside guest RAM: %w", s.PAddr, s.MemSize, err)
		}
		n := copy(dst, data[s.Offset:s.Offset+s.FileSize])
		clear(dst[n:])
		info.KernelStart = min(info.KernelStart, s.PAddr)
		info.KernelEnd = max(info.KernelEnd, s.PAddr+s.MemSize)
	}
	info.Cmdline = CmdlineAddr
	e820, err := MemoryMap(mem)
	if err != nil {
		return BootInfo{}, err
	}
	if err := placeInitrd(mem, &info, initrd, e820, elfInitrdAddrMax); err != nil {
		return BootInfo{}, err
	}
	if err := writeCmdline(mem, cmdline); err != nil {
		return BootInfo{}, err
	}
	if err := writeGDT(mem); err != nil {
		return BootInfo{}, err
	}
	// PVH cannot describe a boot framebuffer; the 64-bit entry's zero page can, so it wins when there is one.
	if img.HasPVH && (opts.Framebuffer == nil || img.Entry >= HighRAMStart) {
		info.Kind, info.Entry, info.Params = EntryPVH, uint64(img.PVHEntry), PVHStartInfo
		if err := writePVHStartInfo(mem, info, e820, opts.RSDP); err != nil {
			return BootInfo{}, err
		}
		return info, nil
	}
	if img.Entry >= HighRAMStart {
		return BootInfo{}, fmt.Errorf("load kernel: ELF entry %#x is not a physical address below 4 GiB", img.Entry)
	}
	info.Kind, info.Entry, info.Params = Entry64, img.Entry, ZeroPageAddr
	// No setup header in a vmlinux: write the fields the kernel reads from one.
	zp := make([]byte, pageSize)
	le := binary.LittleEndian
	le.PutUint16(zp[hdrBootFlag:], bootFlagMagic)
	le.PutUint32(zp[hdrMagic:], hdrSMagic)
	le.PutUint16(zp[hdrVersion:], 0x020F)
	le.PutUint32(zp[hdrKernelAlignment:], 0x0100_0000)
	le.PutUint32(zp[hdrCmdlineSize:], elfCmdlineMax)
	le.PutUint32(zp[hdrInitrdAddrMax:], elfInitrdAddrMax)
	le.PutUint64(zp[zpACPIRSDPAddr:], opts.RSDP)
	if err := finishZeroPage(mem, zp, info, e820, opts); err != nil {
		return BootInfo{}, err
	}
	if err := writeBootPageTables(mem); err != nil {
		return BootInfo{}, err
	}
	return info, nil
}

func checkCmdline(cmdline string, limit uint64) error {
	limit = min(limit, CmdlineMax-1)
	if uint64(len(cmdline)) > limit {
		return fmt.Errorf("kernel command line is %d bytes, longer than the kernel's limit of %d", len(cmdline), limit)
	}
	if bytes.IndexByte([]byte(cmdline), 0) >= 0 {
		return fmt.Errorf("kernel command line contains a NUL byte")
	}
	return nil
}

func writeCmdline(mem *guestmem.Memory, cmdline string) error {
	dst, err := mem.Slice(CmdlineAddr, uint64(len(cmdline))+1)
	if err != nil {
		return fmt.Errorf("write kernel command line: %w", err)
	}
	copy(dst, cmdline)
	dst[len(cmdline)] = 0
	return nil
}

// placeInitrd puts the initrd as high as it goes in RAM below min(addrMax, the RAM top below 4 GiB), page
// aligned and above the kernel.
func placeInitrd(mem *guestmem.Memory, info *BootInfo, initrd []byte, e820 []E820Entry, addrMax uint64) error {
	if len(initrd) == 0 {
		return nil
	}
	size := uint64(len(initrd))
	limit := min(addrMax+1, ramTopBelow4G(e820))
	for i := len(e820) - 1; i >= 0; i-- {
		e := e820[i]
		if e.Type != E820RAM || e.Addr >= limit {
			continue
		}
		end := min(e.End(), limit)
		floor := max(e.Addr, info.KernelEnd)
		if end < size || end-size < floor {
			continue
		}
		addr := (end - size) &^ (pageSize - 1)
		if addr < floor {
			continue
		}
		dst, err := mem.Slice(addr, size)
		if err != nil {
			continue
		}
		copy(dst, initrd)
		info.InitrdAddr, info.InitrdSize = addr, size
		return nil
	}
	return fmt.Errorf("initrd of %d MiB does not fit in guest RAM between the kernel's end (%#x) and %#x; give the VM more memory",
		(size+(1<<20)-1)>>20, info.KernelEnd, limit)
}

// finishZeroPage fills the loader's fields of boot_params in zp and writes it to ZeroPageAddr.
func finishZeroPage(mem *guestmem.Memory, zp []byte, info BootInfo, e820 []E820Entry, opts LoadOptions) error {
	le := binary.LittleEndian
	zp[hdrTypeOfLoader] = 0xFF
	zp[hdrLoadFlags] |= loadFlagLoadedHigh | loadFlagCanUseHeap
	le.PutUint16(zp[hdrHeapEndPtr:], heapEndPtr)
	le.PutUint32(zp[hdrCmdLinePtr:], uint32(info.Cmdline))
	le.PutUint32(zp[zpExtCmdLinePtr:], uint32(info.Cmdline>>32))
	le.PutUint32(zp[hdrRamdiskImage:], uint32(info.InitrdAddr))
	le.PutUint32(zp[hdrRamdiskSize:], uint32(info.InitrdSize))
	le.PutUint32(zp[zpExtRamdiskImage:], uint32(info.InitrdAddr>>32))
	le.PutUint32(zp[zpExtRamdiskSize:], uint32(info.InitrdSize>>32))
	le.PutUint32(zp[hdrHardwareSubarch:], 0) // X86_SUBARCH_PC
	le.PutUint64(zp[hdrHardwareSubarch+4:], 0)
	le.PutUint64(zp[zpSetupData:], 0)
	zp[zpE820Entries] = byte(len(e820))
	for i, e := range e820 {
		o := zpE820Table + i*e820EntrySize
		le.PutUint64(zp[o:], e.Addr)
		le.PutUint64(zp[o+8:], e.Size)
		le.PutUint32(zp[o+16:], e.Type)
	}
	if opts.Framebuffer != nil {
		if err := PutScreenInfo(zp[zpScreenInfo:], *opts.Framebuffer); err != nil {
			return err
		}
	}
	if err := mem.Write(ZeroPageAddr, zp); err != nil {
		return fmt.Errorf("write zero page: %w", err)
	}
	return nil
}
