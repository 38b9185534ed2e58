package virtiotest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"paddock/engine/pci"
	"paddock/engine/virtio"
)

// Capability configuration types (virtio 1.2, 4.1.4).
const (
	CapCommon = 1
	CapNotify = 2
	CapISR    = 3
	CapDevice = 4
	CapPCICfg = 5
)

// MSIAddress is where the driver points every MSI-X vector (the LAPIC).
const MSIAddress = 0xFEE0_0000

// ErrFeaturesRefused is returned when the device does not accept FEATURES_OK.
var ErrFeaturesRefused = errors.New("device refused FEATURES_OK")

// Cap is one virtio vendor capability as the driver read it.
type Cap struct {
	ConfigOffset uint32 // where the capability sits in configuration space
	Type, BAR    byte
	Offset       uint32
	Length       uint32
	Multiplier   uint32 // notify only
}

// Driver is a guest-like driver bound to one PCI function.
type Driver struct {
	M        *Machine
	Slot     int
	VendorID uint16
	DeviceID uint16
	Caps     map[byte]Cap
	BARs     [pci.NumBARs]uint64

	MSIXCap   uint32 // offset of the MSI-X capability
	MSIXSize  int
	msixTable uint64
	msixPBA   uint64

	Features uint64
	Queues   map[int]*Queue
}

// Probe reads slot's configuration like a guest: identity, BARs (sized by writing all ones), the capability
// list; then it turns on memory decode and bus mastering.
func (m *Machine) Probe(slot int) (*Driver, error) {
	d := &Driver{M: m, Slot: slot, Caps: map[byte]Cap{}, Queues: map[int]*Queue{}}
	id := m.ConfigRead(slot, 0, 4)
	if id == 0xffff_ffff {
		return nil, fmt.Errorf("virtiotest: no function in slot %d", slot)
	}
	d.VendorID, d.DeviceID = uint16(id), uint16(id>>16)
	for i := 0; i < pci.NumBARs; i++ {
		reg := uint32(pci.RegBAR0 + 4*i)
		lo := m.ConfigRead(slot, reg, 4)
		if lo == 0 || lo&1 != 0 {
			continue
		}
		addr := uint64(lo &^ 0xf)
		if lo&0x6 == 0x4 {
			addr |= uint64(m.ConfigRead(slot, reg+4, 4)) << 32
			d.BARs[i] = addr
			i++
			continue
		}
		d.BARs[i] = addr
	}
	if m.ConfigRead(slot, pci.RegStatus, 2)&pci.StatusCapabilities == 0 {
		return nil, errors.New("virtiotest: function has no capability list")
	}
	seen := 0
	for off := m.ConfigRead(slot, pci.RegCapPointer, 1) &^ 3; off != 0; off = m.ConfigRead(slot, off+1, 1) &^ 3 {
		if seen++; seen > 48 {
			return nil, errors.New("virtiotest: capability list loops")
		}
		switch byte(m.ConfigRead(slot, off, 1)) {
		case pci.CapabilityIDVendor:
			c := Cap{ConfigOffset: off, Type: byte(m.ConfigRead(slot, off+3, 1)), BAR: byte(m.ConfigRead(slot, off+4, 1)),
				Offset: m.ConfigRead(slot, off+8, 4), Length: m.ConfigRead(slot, off+12, 4)}
			if c.Type == CapNotify {
				c.Multiplier = m.ConfigRead(slot, off+16, 4)
			}
			if _, dup := d.Caps[c.Type]; !dup { // the first of each type is the preferred one
				d.Caps[c.Type] = c
			}
		case pci.CapabilityIDMSIX:
			d.MSIXCap = off
			d.MSIXSize = int(m.ConfigRead(slot, off+2, 2)&0x7ff) + 1
			table := m.ConfigRead(slot, off+4, 4)
			pba := m.ConfigRead(slot, off+8, 4)
			d.msixTable = d.BARs[table&7] + uint64(table&^7)
			d.msixPBA = d.BARs[pba&7] + uint64(pba&^7)
		}
	}
	for _, t := range []byte{CapCommon, CapNotify, CapISR} {
		if _, ok := d.Caps[t]; !ok {
			return nil, fmt.Errorf("virtiotest: capability type %d missing", t)
		}
	}
	cmd := m.ConfigRead(slot, pci.RegCommand, 2)
	m.ConfigWrite(slot, pci.RegCommand, 2, cmd|pci.CommandMemory|pci.CommandBusMaster)
	return d, nil
}

func (d *Driver) capAddr(t byte, off uint32) uint64 {
	c := d.Caps[t]
	return d.BARs[c.BAR] + uint64(c.Offset) + uint64(off)
}

// CommonRead reads a common configuration field of n bytes.
func (d *Driver) CommonRead(off uint32, n int) uint64 {
	return d.M.MMIORead(d.capAddr(CapCommon, off), n)
}

// CommonWrite writes a common configuration field of n bytes.
func (d *Driver) CommonWrite(off uint32, n int, v uint64) {
	d.M.MMIOWrite(d.capAddr(CapCommon, off), n, v)
}

// DeviceConfigRead reads n bytes of the device configuration.
func (d *Driver) DeviceConfigRead(off uint32, n int) uint64 {
	return d.M.MMIORead(d.capAddr(CapDevice, off), n)
}

// Status reads device_status.
func (d *Driver) Status() uint8 { return uint8(d.CommonRead(virtio.CommonDeviceStatus, 1)) }

// SetStatus writes device_status.
func (d *Driver) SetStatus(s uint8) { d.CommonWrite(virtio.CommonDeviceStatus, 1, uint64(s)) }

// ReadISR reads (and so clears) the ISR status.
func (d *Driver) ReadISR() uint8 { return uint8(d.M.MMIORead(d.capAddr(CapISR, 0), 1)) }

// Reset writes 0 to device_status and waits for it to read back 0, as Linux does.
func (d *Driver) Reset() error {
	d.SetStatus(0)
	for i := 0; i < 1000; i++ {
		if d.Status() == 0 {
			d.Queues = map[int]*Queue{}
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return errors.New("virtiotest: device did not reset")
}

// DeviceFeatures reads the 64 feature bits the device offers.
func (d *Driver) DeviceFeatures() uint64 {
	d.CommonWrite(virtio.CommonDeviceFeatureSelect, 4, 0)
	lo := d.CommonRead(virtio.CommonDeviceFeature, 4)
	d.CommonWrite(virtio.CommonDeviceFeatureSelect, 4, 1)
	hi := d.CommonRead(virtio.CommonDeviceFeature, 4)
	return hi<<32 | lo
}

// Negotiate resets the device and runs the status handshake up to FEATURES_OK, accepting want & offered.
func (d *Driver) Negotiate(want uint64) error {
	if err := d.Reset(); err != nil {
		return err
	}
	d.SetStatus(virtio.StatusAcknowledge)
	d.SetStatus(virtio.StatusAcknowledge | virtio.StatusDriver)
	d.Features = want & d.DeviceFeatures()
	d.CommonWrite(virtio.CommonDriverFeatureSelect, 4, 0)
	d.CommonWrite(virtio.CommonDriverFeature, 4, d.Features&0xffff_ffff)
	d.CommonWrite(virtio.CommonDriverFeatureSelect, 4, 1)
	d.CommonWrite(virtio.CommonDriverFeature, 4, d.Features>>32)
	d.SetStatus(virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFeaturesOK)
	if d.Status()&virtio.StatusFeaturesOK == 0 {
		return ErrFeaturesRefused
	}
	return nil
}

// EnableMSIX programs every table entry (data = vector number) and turns MSI-X on, unmasked.
func (d *Driver) EnableMSIX() {
	for v := 0; v < d.MSIXSize; v++ {
		e := d.msixTable + uint64(v)*16
		d.M.MMIOWrite(e, 4, MSIAddress)
		d.M.MMIOWrite(e+4, 4, 0)
		d.M.MMIOWrite(e+8, 4, uint64(v))
		d.M.MMIOWrite(e+12, 4, 0)
	}
	d.SetMSIXControl(true, false)
}

// SetMSIXControl writes the MSI-X enable and function mask bits.
func (d *Driver) SetMSIXControl(enable, maskAll bool) {
	var v uint32
	if enable {
		v |= 1 << 15
	}
	if maskAll {
		v |= 1 << 14
	}
	d.M.ConfigWrite(d.Slot, d.MSIXCap+2, 2, v)
}

// MaskVector sets or clears one vector's mask bit.
func (d *Driver) MaskVector(v int, masked bool) {
	var ctrl uint64
	if masked {
		ctrl = 1
	}
	d.M.MMIOWrite(d.msixTable+uint64(v)*16+12, 4, ctrl)
}

// Pending reads vector v's pending bit from the PBA.
func (d *Driver) Pending(v int) bool {
	return d.M.MMIORead(d.msixPBA+uint64(v/8), 1)&(1<<(v%8)) != 0
}

// SetConfigVector writes config_msix_vector and returns what reads back.
func (d *Driver) SetConfigVector(v uint16) uint16 {
	d.CommonWrite(virtio.CommonConfigMSIXVector, 2, uint64(v))
	return uint16(d.CommonRead(virtio.CommonConfigMSIXVector, 2))
}

// SetupQueue sets queue index up with the given size (0: the device's maximum) and MSI-X vector, the way Linux's
// vp_modern setup does: select, read the size, write rings, write and check the vector, enable.
func (d *Driver) SetupQueue(index int, size uint16, vector uint16) (*Queue, error) {
	d.CommonWrite(virtio.CommonQueueSelect, 2, uint64(index))
	max := uint16(d.CommonRead(virtio.CommonQueueSize, 2))
	if max == 0 {
		return nil, fmt.Errorf("virtiotest: queue %d does not exist", index)
	}
	if d.CommonRead(virtio.CommonQueueEnable, 2) != 0 {
		return nil, fmt.Errorf("virtiotest: queue %d already enabled", index)
	}
	if size == 0 {
		size = max
	}
	q := &Queue{d: d, Index: index, Size: size, Vector: vector}
	var err error
	n := uint64(size)
	if q.Desc, err = d.M.Alloc(16*n, 16); err != nil {
		return nil, err
	}
	if q.Avail, err = d.M.Alloc(6+2*n, 4); err != nil {
		return nil, err
	}
	if q.Used, err = d.M.Alloc(6+8*n, 4); err != nil {
		return nil, err
	}
	for i := uint16(0); i < size; i++ {
		q.free = append(q.free, i)
	}
	q.owned = make(map[uint16][]uint16)
	d.CommonWrite(virtio.CommonQueueSize, 2, uint64(size))
	d.CommonWrite(virtio.CommonQueueDesc, 4, q.Desc&0xffff_ffff)
	d.CommonWrite(virtio.CommonQueueDesc+4, 4, q.Desc>>32)
	d.CommonWrite(virtio.CommonQueueDriver, 4, q.Avail&0xffff_ffff)
	d.CommonWrite(virtio.CommonQueueDriver+4, 4, q.Avail>>32)
	d.CommonWrite(virtio.CommonQueueDevice, 4, q.Used&0xffff_ffff)
	d.CommonWrite(virtio.CommonQueueDevice+4, 4, q.Used>>32)
	d.CommonWrite(virtio.CommonQueueMSIXVector, 2, uint64(vector))
	if got := uint16(d.CommonRead(virtio.CommonQueueMSIXVector, 2)); got != vector {
		return nil, fmt.Errorf("virtiotest: queue %d vector %d read back as %#x", index, vector, got)
	}
	q.notifyAddr = d.capAddr(CapNotify, uint32(d.CommonRead(virtio.CommonQueueNotifyOff, 2))*d.Caps[CapNotify].Multiplier)
	d.CommonWrite(virtio.CommonQueueEnable, 2, 1)
	d.Queues[index] = q
	return q, nil
}

// DriverOK sets DRIVER_OK.
func (d *Driver) DriverOK() {
	d.SetStatus(d.Status() | virtio.StatusDriverOK)
}

// Setup runs the whole bring-up: negotiate want, MSI-X with vector 0 for configuration changes and vector i+1 for
// queue i, every queue at its maximum size, DRIVER_OK.
func (d *Driver) Setup(want uint64, queues int) error {
	if err := d.Negotiate(want); err != nil {
		return err
	}
	d.EnableMSIX()
	if got := d.SetConfigVector(0); got != 0 {
		return fmt.Errorf("virtiotest: config vector read back as %#x", got)
	}
	for i := 0; i < queues; i++ {
		if _, err := d.SetupQueue(i, 0, uint16(i+1)); err != nil {
			return err
		}
	}
	d.DriverOK()
	if d.Status()&virtio.StatusDriverOK == 0 {
		return errors.New("virtiotest: DRIVER_OK did not stick")
	}
	return nil
}

// Buf is one buffer of a chain.
type Buf struct {
	Addr  uint64
	Len   uint32
	Write bool // device-writable
}

// Used is one completed chain.
type Used struct {
	Head uint16
	Len  uint32
}

// Queue is the driver side of one split virtqueue.
type Queue struct {
	d                *Driver
	Index            int
	Size             uint16
	Vector           uint16
	Desc, Avail      uint64
	Used             uint64
	notifyAddr       uint64
	free             []uint16
	owned            map[uint16][]uint16 // head -> descriptors of its chain
	availIdx         uint16
	lastUsed         uint16
	interruptsBefore int
}

// WriteDesc writes descriptor i directly (hostile tests use this to build any table they like).
func (q *Queue) WriteDesc(i uint16, addr uint64, length uint32, flags, next uint16) {
	b := q.d.M.RAM[q.Desc+16*uint64(i%q.Size):]
	binary.LittleEndian.PutUint64(b[0:], addr)
	binary.LittleEndian.PutUint32(b[8:], length)
	binary.LittleEndian.PutUint16(b[12:], flags)
	binary.LittleEndian.PutUint16(b[14:], next)
}

// Publish puts head in the next avail slot and moves the avail index, without notifying.
func (q *Queue) Publish(head uint16) {
	binary.LittleEndian.PutUint16(q.d.M.RAM[q.Avail+4+2*uint64(q.availIdx%q.Size):], head)
	q.availIdx++
	q.SetAvailIdx(q.availIdx)
}

// SetAvailIdx stores the avail index (atomically, like a guest's release store).
func (q *Queue) SetAvailIdx(v uint16) {
	q.availIdx = v
	store16(q.d.M.RAM, q.Avail+2, v)
}

// SetUsedEvent writes used_event (for EVENT_IDX).
func (q *Queue) SetUsedEvent(v uint16) {
	binary.LittleEndian.PutUint16(q.d.M.RAM[q.Avail+4+2*uint64(q.Size):], v)
}

// Add builds a chain from bufs out of free descriptors and publishes it. It returns the head.
func (q *Queue) Add(bufs []Buf) (uint16, error) {
	if len(bufs) == 0 || len(bufs) > len(q.free) {
		return 0, fmt.Errorf("virtiotest: %d buffers, %d free descriptors", len(bufs), len(q.free))
	}
	ids := append([]uint16(nil), q.free[:len(bufs)]...)
	q.free = q.free[len(bufs):]
	for i, b := range bufs {
		var flags, next uint16
		if b.Write {
			flags |= virtio.DescFlagWrite
		}
		if i+1 < len(bufs) {
			flags |= virtio.DescFlagNext
			next = ids[i+1]
		}
		q.WriteDesc(ids[i], b.Addr, b.Len, flags, next)
	}
	q.owned[ids[0]] = ids
	q.Publish(ids[0])
	return ids[0], nil
}

// AddIndirect writes bufs as an indirect table at table (16 bytes per buffer) and publishes one descriptor
// pointing at it.
func (q *Queue) AddIndirect(bufs []Buf, table uint64) (uint16, error) {
	for i, b := range bufs {
		e := q.d.M.RAM[table+16*uint64(i):]
		var flags, next uint16
		if b.Write {
			flags |= virtio.DescFlagWrite
		}
		if i+1 < len(bufs) {
			flags |= virtio.DescFlagNext
			next = uint16(i + 1)
		}
		binary.LittleEndian.PutUint64(e[0:], b.Addr)
		binary.LittleEndian.PutUint32(e[8:], b.Len)
		binary.LittleEndian.PutUint16(e[12:], flags)
		binary.LittleEndian.PutUint16(e[14:], next)
	}
	if len(q.free) == 0 {
		return 0, errors.New("virtiotest: no free descriptor")
	}
	id := q.free[0]
	q.free = q.free[1:]
	q.WriteDesc(id, table, uint32(16*len(bufs)), virtio.DescFlagIndirect, 0)
	q.owned[id] = []uint16{id}
	q.Publish(id)
	return id, nil
}

// Kick notifies the device through the notify region, writing the queue index as Linux does.
func (q *Queue) Kick() { q.d.M.MMIOWrite(q.notifyAddr, 2, uint64(q.Index)) }

// TakeUsed returns chains the device completed since the last call and frees their descriptors.
func (q *Queue) TakeUsed() []Used {
	var out []Used
	idx := load16(q.d.M.RAM, q.Used+2)
	for q.lastUsed != idx {
		e := q.d.M.RAM[q.Used+4+8*uint64(q.lastUsed%q.Size):]
		u := Used{Head: uint16(binary.LittleEndian.Uint32(e[0:])), Len: binary.LittleEndian.Uint32(e[4:])}
		out = append(out, u)
		q.free = append(q.free, q.owned[u.Head]...)
		delete(q.owned, u.Head)
		q.lastUsed++
	}
	return out
}

// Wait waits until n chains are used, relying on the queue's interrupt, and returns them.
func (q *Queue) Wait(n int, timeout time.Duration) ([]Used, error) {
	var out []Used
	deadline := time.Now().Add(timeout)
	for {
		out = append(out, q.TakeUsed()...)
		if len(out) >= n {
			return out, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return out, fmt.Errorf("virtiotest: %d of %d chains used on queue %d", len(out), n, q.Index)
		}
		want := q.interruptsBefore + 1
		if q.d.M.MSI.WaitCount(uint32(q.Vector), want, left) {
			q.interruptsBefore = q.d.M.MSI.Count(uint32(q.Vector))
		}
	}
}

// Submit adds bufs, kicks, and waits for that chain to come back; it returns the used length.
func (q *Queue) Submit(bufs []Buf, timeout time.Duration) (uint32, error) {
	head, err := q.Add(bufs)
	if err != nil {
		return 0, err
	}
	q.Kick()
	used, err := q.Wait(1, timeout)
	if err != nil {
		return 0, err
	}
	for _, u := range used {
		if u.Head == head {
			return u.Len, nil
		}
	}
	return 0, fmt.Errorf("virtiotest: head %d not among used %v", head, used)
}

// load16 and store16 touch a 16-bit ring field through its aligned 32-bit word with atomics, as a guest's
// barriers would order them. The other half of the word belongs to the same side.
func load16(ram []byte, addr uint64) uint16 {
	w := addr &^ 3
	v := atomic.LoadUint32((*uint32)(unsafe.Pointer(&ram[w])))
	return uint16(v >> ((addr - w) * 8))
}

func store16(ram []byte, addr uint64, v uint16) {
	w := addr &^ 3
	p := (*uint32)(unsafe.Pointer(&ram[w]))
	shift := (addr - w) * 8
	old := atomic.LoadUint32(p)
	atomic.StoreUint32(p, old&^(0xffff<<shift)|uint32(v)<<shift)
}
