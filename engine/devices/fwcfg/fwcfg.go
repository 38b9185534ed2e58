// Package fwcfg models QEMU's firmware configuration interface (fw_cfg) on the x86 I/O ports, the channel through
// which SeaBIOS learns the machine: CPU count, memory map, boot order, ACPI tables (through the table loader),
// option ROMs and the ramfb framebuffer set-up.
//
// The guest selects an item by writing its 16-bit key to the selector port, then reads the item a byte at a time
// from the data port, or moves it in bulk with the DMA interface: it writes the guest-physical address of a
// FWCfgDmaAccess descriptor (be32 control, be32 length, be64 address) to the DMA address register, and the device
// performs the transfer before the port write returns.
package fwcfg

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"paddock/engine/bus"
	"paddock/engine/guestmem"
)

// I/O ports (the x86 layout QEMU and SeaBIOS agree on).
const (
	PortBase     = 0x510 // selector, 16-bit write
	PortData     = 0x511 // data, 8-bit read
	PortDMAHigh  = 0x514 // DMA descriptor address, high 32 bits (big-endian)
	PortDMALow   = 0x518 // DMA descriptor address, low 32 bits (big-endian); writing it starts the transfer
	PortsSize    = 12    // PortBase..PortDMALow+3
	offSelector  = 0
	offData      = 1
	offDMAHigh   = 4
	offDMALow    = 8
	dmaSignature = 0x51454d5520434647 // "QEMU CFG": what the DMA register reads back, so a driver can probe it
)

// Selector keys of the classic items. New content goes into named files (AddFile), as QEMU's own do.
const (
	KeySignature = 0x00 // "QEMU"
	KeyID        = 0x01 // le32 feature bits
	KeyUUID      = 0x02
	KeyRAMSize   = 0x03 // le64
	KeyNBCPUs    = 0x05 // le16, CPUs present at boot
	KeyNUMA      = 0x0d // le64 node count, then per-CPU and per-node data
	KeyBootMenu  = 0x0e // le16, 1 shows the boot menu
	KeyMaxCPUs   = 0x0f // le16, CPUs possible (hot-plug included)
	KeyFileDir   = 0x19 // the file directory
	KeyFileFirst = 0x20 // the first key given to a named file

	// Keys with the architecture bit set are x86-specific. SeaBIOS reads them and expects zeros when they are absent.
	KeyACPITables     = 0x8000
	KeySMBIOSEntries  = 0x8001
	KeyIRQ0Override   = 0x8002
	KeyE820Reservable = 0x8003

	// keyWriteChannel is a flag in the selector that older guests set to write; it does not name another item.
	keyWriteChannel = 0x4000
	keyFileLast     = 0x0fff
)

// ID feature bits (KeyID).
const (
	FeatureTraditional = 1 << 0 // the selector and data ports
	FeatureDMA         = 1 << 1 // the DMA interface
)

// DMA control bits (FWCfgDmaAccess.control). The selector rides in bits 16-31 when dmaSelect is set.
const (
	dmaError  = 1 << 0
	dmaRead   = 1 << 1
	dmaSkip   = 1 << 2
	dmaSelect = 1 << 3
	dmaWrite  = 1 << 4

	dmaDescriptorSize = 16
)

// Limits on what the device holds and moves, so no guest request can make a vCPU copy for long.
const (
	MaxItemSize    = 64 << 20 // the largest item or file
	MaxTransfer    = 64 << 20 // the largest single DMA transfer; longer ones fail with the error bit
	FileNameSize   = 56       // a directory entry's name field, NUL included
	fileEntrySize  = 64       // be32 size, be16 select, be16 reserved, name
	maxNamedFiles  = keyFileLast - KeyFileFirst + 1
	signatureBytes = "QEMU"
)

type item struct {
	data []byte
	// writable items take DMA writes; onWrite hears of each, outside the device lock.
	writable bool
	onWrite  func(data []byte)
}

type file struct {
	name string
	key  uint16
}

// Device is one fw_cfg device. Build it with New and the Add/Set methods before the guest runs; register it on the
// port-I/O bus at PortBase (IOPorts). Safe for concurrent use by several vCPUs.
type Device struct {
	mem *guestmem.Memory
	log *slog.Logger

	mu       sync.Mutex
	items    map[uint16]*item
	files    []file // in the order added; each keeps its key
	selected uint16
	offset   uint32
	dmaHigh  uint32 // the high half of the descriptor address, until the low half's write uses it
	warned   bool   // a bad DMA descriptor has been logged once
}

// New returns a device that holds the signature, the ID (traditional and DMA interfaces) and an empty file
// directory. mem is the guest RAM DMA transfers use; log may be nil.
func New(mem *guestmem.Memory, log *slog.Logger) *Device {
	if log == nil {
		log = slog.Default()
	}
	d := &Device{mem: mem, log: log, items: map[uint16]*item{}}
	d.items[KeySignature] = &item{data: []byte(signatureBytes)}
	d.items[KeyID] = &item{data: binary.LittleEndian.AppendUint32(nil, FeatureTraditional|FeatureDMA)}
	d.rebuildDirectory()
	return d
}

// IOPorts is where the device lives on the port-I/O bus.
func (d *Device) IOPorts() (base, size uint64, dev bus.Device) { return PortBase, PortsSize, d }

// AddBytes sets a classic (numbered) item. Keys that name the signature, ID or the file directory, or that fall in
// the named-file range, are refused: those belong to the device.
func (d *Device) AddBytes(key uint16, data []byte) error {
	key &^= keyWriteChannel
	switch {
	case key == KeySignature || key == KeyID || key == KeyFileDir:
		return fmt.Errorf("fw_cfg key %#x is the device's own", key)
	case key >= KeyFileFirst && key <= keyFileLast:
		return fmt.Errorf("fw_cfg key %#x is in the named-file range", key)
	case len(data) > MaxItemSize:
		return fmt.Errorf("fw_cfg item %#x: %d bytes is more than the %d allowed", key, len(data), MaxItemSize)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.items[key] = &item{data: append([]byte(nil), data...)}
	return nil
}

// AddFile adds (or replaces) a read-only named file and lists it in the directory.
func (d *Device) AddFile(name string, data []byte) error {
	if len(data) > MaxItemSize {
		return fmt.Errorf("fw_cfg file %q: %d bytes is more than the %d allowed", name, len(data), MaxItemSize)
	}
	return d.addFile(name, &item{data: append([]byte(nil), data...)})
}

// AddWritableFile adds a file of size bytes (zero at first) the guest may also write through DMA, such as
// "etc/ramfb". After each accepted write, onWrite gets a copy of the whole file as it now stands; it is called
// outside the device lock, on the writing vCPU's thread. A write that would run past the end fails as a whole.
func (d *Device) AddWritableFile(name string, size int, onWrite func(data []byte)) error {
	if size < 0 || size > MaxItemSize {
		return fmt.Errorf("fw_cfg file %q: size %d out of range", name, size)
	}
	return d.addFile(name, &item{data: make([]byte, size), writable: true, onWrite: onWrite})
}

func (d *Device) addFile(name string, it *item) error {
	if name == "" || len(name) >= FileNameSize {
		return fmt.Errorf("fw_cfg file name %q must be 1 to %d bytes", name, FileNameSize-1)
	}
	for i := 0; i < len(name); i++ {
		if name[i] == 0 {
			return fmt.Errorf("fw_cfg file name %q holds a NUL", name)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, f := range d.files {
		if f.name == name {
			d.items[f.key] = it
			d.rebuildDirectory()
			return nil
		}
	}
	if len(d.files) >= maxNamedFiles {
		return fmt.Errorf("fw_cfg file %q: all %d file keys are taken", name, maxNamedFiles)
	}
	key := uint16(KeyFileFirst + len(d.files))
	d.files = append(d.files, file{name: name, key: key})
	d.items[key] = it
	d.rebuildDirectory()
	return nil
}

// rebuildDirectory writes the file directory: be32 count, then one entry per file sorted by name.
// The caller holds d.mu (or owns d exclusively).
func (d *Device) rebuildDirectory() {
	sorted := append([]file(nil), d.files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	dir := binary.BigEndian.AppendUint32(make([]byte, 0, 4+fileEntrySize*len(sorted)), uint32(len(sorted)))
	for _, f := range sorted {
		var e [fileEntrySize]byte
		binary.BigEndian.PutUint32(e[0:], uint32(len(d.items[f.key].data)))
		binary.BigEndian.PutUint16(e[4:], f.key)
		copy(e[8:], f.name)
		dir = append(dir, e[:]...)
	}
	d.items[KeyFileDir] = &item{data: dir}
}

// Read implements bus.Device.
func (d *Device) Read(offset uint64, data []byte) {
	for i := range data {
		data[i] = 0
	}
	switch {
	case offset == offData:
		d.mu.Lock()
		defer d.mu.Unlock()
		it := d.items[d.selected]
		for i := range data {
			if it != nil && uint64(d.offset) < uint64(len(it.data)) {
				data[i] = it.data[d.offset]
				d.offset++
			}
		}
	case offset >= offDMAHigh && offset < PortsSize:
		var sig [8]byte
		binary.BigEndian.PutUint64(sig[:], dmaSignature)
		for i := range data {
			if o := offset - offDMAHigh + uint64(i); o < uint64(len(sig)) {
				data[i] = sig[o]
			}
		}
	}
}

// Write implements bus.Device.
func (d *Device) Write(offset uint64, data []byte) {
	switch {
	case offset == offSelector && len(data) <= 2:
		var key uint16
		for i, b := range data {
			key |= uint16(b) << (8 * i)
		}
		d.mu.Lock()
		d.selectLocked(key)
		d.mu.Unlock()
	case offset == offDMAHigh && len(data) == 4:
		d.mu.Lock()
		d.dmaHigh = binary.BigEndian.Uint32(data)
		d.mu.Unlock()
	case offset == offDMAHigh && len(data) == 8:
		d.dma(binary.BigEndian.Uint64(data))
	case offset == offDMALow && len(data) == 4:
		d.mu.Lock()
		addr := uint64(d.dmaHigh)<<32 | uint64(binary.BigEndian.Uint32(data))
		d.mu.Unlock()
		d.dma(addr)
	}
	// Writes to the data port are ignored, as on current QEMU: writable items are written by DMA only.
}

func (d *Device) selectLocked(key uint16) {
	d.selected = key &^ keyWriteChannel
	d.offset = 0
}

// Selected reports the selected key and the read offset within it, for tests and diagnostics.
func (d *Device) Selected() (key uint16, offset uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.selected, d.offset
}

// dma runs the transfer described at descriptor address addr and writes the outcome back into its control word.
func (d *Device) dma(addr uint64) {
	d.mu.Lock()
	d.dmaHigh = 0 // the next descriptor's high half starts from zero unless the guest writes it again
	desc, err := d.mem.Slice(addr, dmaDescriptorSize)
	if err != nil {
		warn := !d.warned
		d.warned = true
		d.mu.Unlock()
		if warn {
			d.log.Warn("fw_cfg: DMA descriptor outside guest RAM; ignored", "addr", fmt.Sprintf("%#x", addr))
		}
		return
	}
	control := binary.BigEndian.Uint32(desc[0:])
	length := binary.BigEndian.Uint32(desc[4:])
	address := binary.BigEndian.Uint64(desc[8:])
	notify, snapshot, ok := d.transferLocked(control, length, address)
	// Only the error bit survives: a zero control word tells the guest the transfer is done.
	var result uint32
	if !ok {
		result = dmaError
	}
	binary.BigEndian.PutUint32(desc[0:], result)
	d.mu.Unlock()
	if notify != nil {
		notify(snapshot)
	}
}

// transferLocked performs one DMA request. It returns false when the error bit must be set, and, after an accepted
// write to a writable file, the callback to run and the file's contents to give it.
func (d *Device) transferLocked(control, length uint32, address uint64) (func([]byte), []byte, bool) {
	if control&dmaSelect != 0 {
		d.selectLocked(uint16(control >> 16))
	}
	var read, write, skip bool
	switch {
	case control&dmaRead != 0:
		read = true
	case control&dmaWrite != 0:
		write = true
	case control&dmaSkip != 0:
		skip = true
	default:
		return nil, nil, true // select only, or nothing at all
	}
	if length > MaxTransfer {
		return nil, nil, false
	}
	it := d.items[d.selected]
	var have uint32 // bytes of the item left from the offset
	if it != nil && uint64(d.offset) < uint64(len(it.data)) {
		have = uint32(len(it.data)) - d.offset
	}
	switch {
	case skip:
		d.offset += min(length, have)
		return nil, nil, true
	case read:
		dst, err := d.mem.Slice(address, uint64(length))
		if err != nil {
			return nil, nil, false
		}
		n := min(length, have)
		if n > 0 {
			copy(dst, it.data[d.offset:d.offset+n])
		}
		clear(dst[n:]) // past the end of the item the guest reads zeros
		d.offset += n
		return nil, nil, true
	case write:
		if it == nil || !it.writable || length > have {
			return nil, nil, false
		}
		src, err := d.mem.Slice(address, uint64(length))
		if err != nil {
			return nil, nil, false
		}
		copy(it.data[d.offset:], src)
		d.offset += length
		if it.onWrite == nil || length == 0 {
			return nil, nil, true
		}
		return it.onWrite, append([]byte(nil), it.data...), true
	}
	return nil, nil, true
}
