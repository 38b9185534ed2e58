// Package guestmem is the guest's physical memory as the host sees it: a few regions of host memory, each at a
// guest-physical address. Every access the host makes on the guest's behalf goes through a bounds check here, so a
// guest-supplied address or length can never reach outside the guest's RAM.
package guestmem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"golang.org/x/sys/unix"
)

// ErrOutOfRange is returned for any access that is not wholly inside one region of guest RAM.
var ErrOutOfRange = errors.New("guest address out of range")

// Region is a run of guest-physical memory backed by host memory.
type Region struct {
	GPA  uint64
	Host []byte
}

// End is the first guest-physical address past the region.
func (r Region) End() uint64 { return r.GPA + uint64(len(r.Host)) }

// Memory is the guest's RAM: non-overlapping regions, sorted by address.
type Memory struct {
	regions []Region
	mapped  [][]byte // host mappings this Memory owns and unmaps on Close
}

// New builds a Memory over regions the caller owns (tests use plain Go slices).
func New(regions ...Region) (*Memory, error) {
	rs := append([]Region(nil), regions...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].GPA < rs[j].GPA })
	for i, r := range rs {
		if r.GPA+uint64(len(r.Host)) < r.GPA {
			return nil, fmt.Errorf("region at %#x wraps the address space", r.GPA)
		}
		if i > 0 && rs[i-1].End() > r.GPA {
			return nil, fmt.Errorf("regions at %#x and %#x overlap", rs[i-1].GPA, r.GPA)
		}
	}
	return &Memory{regions: rs}, nil
}

// Range is a guest-physical range to back with fresh anonymous memory.
type Range struct {
	GPA  uint64
	Size uint64
}

// Allocate maps zero-filled anonymous host memory for each range. Pages are only committed when touched.
func Allocate(ranges ...Range) (*Memory, error) {
	var regions []Region
	var mapped [][]byte
	release := func() {
		for _, m := range mapped {
			unix.Munmap(m)
		}
	}
	for _, r := range ranges {
		if r.Size == 0 {
			continue
		}
		if r.Size%4096 != 0 || r.GPA%4096 != 0 {
			release()
			return nil, fmt.Errorf("guest RAM range %#x+%#x is not page aligned", r.GPA, r.Size)
		}
		m, err := unix.Mmap(-1, 0, int(r.Size), unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
		if err != nil {
			release()
			return nil, fmt.Errorf("allocate %d MiB of guest RAM: %w", r.Size>>20, err)
		}
		// Guest RAM is large and rarely benefits from being in a core dump.
		_ = unix.Madvise(m, unix.MADV_DONTDUMP)
		mapped = append(mapped, m)
		regions = append(regions, Region{GPA: r.GPA, Host: m})
	}
	mem, err := New(regions...)
	if err != nil {
		release()
		return nil, err
	}
	mem.mapped = mapped
	return mem, nil
}

// Close unmaps memory that Allocate mapped. The Memory must not be used afterwards.
func (m *Memory) Close() error {
	var first error
	for _, b := range m.mapped {
		if err := unix.Munmap(b); err != nil && first == nil {
			first = err
		}
	}
	m.mapped, m.regions = nil, nil
	return first
}

// Regions lists the regions, sorted by guest-physical address.
func (m *Memory) Regions() []Region { return m.regions }

// Size is the total RAM in bytes.
func (m *Memory) Size() uint64 {
	var n uint64
	for _, r := range m.regions {
		n += uint64(len(r.Host))
	}
	return n
}

// Slice returns the host bytes behind [gpa, gpa+n). The range must lie wholly inside one region; n may be 0.
func (m *Memory) Slice(gpa, n uint64) ([]byte, error) {
	for _, r := range m.regions {
		if gpa < r.GPA || gpa >= r.End() {
			continue
		}
		off := gpa - r.GPA
		if n > uint64(len(r.Host))-off {
			break
		}
		return r.Host[off : off+n : off+n], nil
	}
	return nil, fmt.Errorf("%w: %#x+%#x", ErrOutOfRange, gpa, n)
}

// Read copies guest memory at gpa into dst.
func (m *Memory) Read(gpa uint64, dst []byte) error {
	s, err := m.Slice(gpa, uint64(len(dst)))
	if err != nil {
		return err
	}
	copy(dst, s)
	return nil
}

// Write copies src into guest memory at gpa.
func (m *Memory) Write(gpa uint64, src []byte) error {
	s, err := m.Slice(gpa, uint64(len(src)))
	if err != nil {
		return err
	}
	copy(s, src)
	return nil
}

// U16 reads a little-endian 16-bit value.
func (m *Memory) U16(gpa uint64) (uint16, error) {
	s, err := m.Slice(gpa, 2)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(s), nil
}

// U32 reads a little-endian 32-bit value.
func (m *Memory) U32(gpa uint64) (uint32, error) {
	s, err := m.Slice(gpa, 4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(s), nil
}

// U64 reads a little-endian 64-bit value.
func (m *Memory) U64(gpa uint64) (uint64, error) {
	s, err := m.Slice(gpa, 8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(s), nil
}

// PutU16 writes a little-endian 16-bit value.
func (m *Memory) PutU16(gpa uint64, v uint16) error {
	s, err := m.Slice(gpa, 2)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint16(s, v)
	return nil
}

// PutU32 writes a little-endian 32-bit value.
func (m *Memory) PutU32(gpa uint64, v uint32) error {
	s, err := m.Slice(gpa, 4)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(s, v)
	return nil
}

// PutU64 writes a little-endian 64-bit value.
func (m *Memory) PutU64(gpa uint64, v uint64) error {
	s, err := m.Slice(gpa, 8)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(s, v)
	return nil
}
