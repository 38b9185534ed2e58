package x86

import (
	"fmt"
	"sort"

	"paddock/engine/guestmem"
)

// E820 memory types.
const (
	E820RAM      = 1
	E820Reserved = 2
)

// e820Max is the number of entries boot_params.e820_table holds.
const e820Max = 128

// E820Entry is one range of the guest-physical memory map the kernel is given.
type E820Entry struct {
	Addr uint64
	Size uint64
	Type uint32
}

// End is the first address past the entry.
func (e E820Entry) End() uint64 { return e.Addr + e.Size }

// MemoryMap builds the e820 map for the machine's RAM: every RAM region, less the EBDA/BIOS area
// EBDAStart..KernelLoadAddr (reported reserved, it holds the MP and ACPI tables) and less anything inside the MMIO
// hole, which is never RAM.
func MemoryMap(mem *guestmem.Memory) ([]E820Entry, error) {
	var ranges []guestmem.Range
	for _, r := range mem.Regions() {
		ranges = append(ranges, guestmem.Range{GPA: r.GPA, Size: uint64(len(r.Host))})
	}
	return memoryMapOf(ranges)
}

func memoryMapOf(ranges []guestmem.Range) ([]E820Entry, error) {
	var out []E820Entry
	addRAM := func(start, end uint64) {
		if end > start {
			out = append(out, E820Entry{Addr: start, Size: end - start, Type: E820RAM})
		}
	}
	// Cut [start,end) around the BIOS area and the MMIO hole.
	holes := [][2]uint64{{EBDAStart, KernelLoadAddr}, {MMIOHoleStart, HighRAMStart}}
	for _, r := range ranges {
		segs := [][2]uint64{{r.GPA, r.GPA + r.Size}}
		for _, h := range holes {
			var next [][2]uint64
			for _, s := range segs {
				if s[1] <= h[0] || s[0] >= h[1] {
					next = append(next, s)
					continue
				}
				if s[0] < h[0] {
					next = append(next, [2]uint64{s[0], h[0]})
				}
				if s[1] > h[1] {
					next = append(next, [2]uint64{h[1], s[1]})
				}
			}
			segs = next
		}
		for _, s := range segs {
			addRAM(s[0], s[1])
		}
	}
	out = append(out, E820Entry{Addr: EBDAStart, Size: KernelLoadAddr - EBDAStart, Type: E820Reserved})
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	if len(out) > e820Max {
		return nil, fmt.Errorf("guest RAM has %d ranges, more than the %d an e820 map holds", len(out), e820Max)
	}
	return out, nil
}

// ramTopBelow4G is the end of the highest RAM range below 4 GiB.
func ramTopBelow4G(e820 []E820Entry) uint64 {
	var top uint64
	for _, e := range e820 {
		if e.Type == E820RAM && e.Addr < HighRAMStart && e.End() > top {
			top = min(e.End(), HighRAMStart)
		}
	}
	return top
}
