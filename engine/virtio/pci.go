package virtio

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/bits"
	"sync"
	"sync/atomic"

	"paddock/engine/guestmem"
	"paddock/engine/irq"
	"paddock/engine/pci"
)

// PCI identity of virtio devices (virtio 1.2, 4.1.2).
const (
	PCIVendorID        = 0x1AF4
	PCIDeviceIDBase    = 0x1040
	pciRevision        = 1
	pciSubsystemID     = 0x1100
	pciCapVendor       = 0x09
	pciCapCommon       = 1
	pciCapNotify       = 2
	pciCapISR          = 3
	pciCapDevice       = 4
	pciCapPCICfg       = 5
	notifyMultiplier   = 4
	msixEntrySize      = 16
	msixCtrlEnable     = 1 << 15
	msixCtrlMaskAll    = 1 << 14
	msixVectorMasked   = 1
	isrQueue           = 1
	isrConfig          = 2
	commonCfgSize      = 0x3C
	defaultClass       = 0xFF_00_00
	modernBARIndex     = 4
	modernBARSize      = 0x8000
	regionSize         = 0x1000
	commonCfgOffset    = 0x0000
	isrOffset          = 0x1000
	deviceCfgOffset    = 0x2000
	notifyOffset       = 0x3000
	msixTableOffset    = 0x4000
	msixPBAOffset      = 0x5000
	pciCfgDataOffset   = 16 // pci_cfg_data inside the VIRTIO_PCI_CAP_PCI_CFG capability
	maxMSIXVectors     = maxQueuesPerDevice + 1
	ringFeaturesAlways = FeatureVersion1 | FeatureRingIndirectDesc | FeatureRingEventIdx
)

// Common configuration register offsets (virtio 1.2, 4.1.4.3).
const (
	CommonDeviceFeatureSelect = 0x00
	CommonDeviceFeature       = 0x04
	CommonDriverFeatureSelect = 0x08
	CommonDriverFeature       = 0x0C
	CommonConfigMSIXVector    = 0x10
	CommonNumQueues           = 0x12
	CommonDeviceStatus        = 0x14
	CommonConfigGeneration    = 0x15
	CommonQueueSelect         = 0x16
	CommonQueueSize           = 0x18
	CommonQueueMSIXVector     = 0x1A
	CommonQueueEnable         = 0x1C
	CommonQueueNotifyOff      = 0x1E
	CommonQueueDesc           = 0x20
	CommonQueueDriver         = 0x28
	CommonQueueDevice         = 0x30
	CommonQueueNotifyData     = 0x38
	CommonQueueReset          = 0x3A
)

type queueState struct {
	max, size            uint16
	enabled              bool
	desc, driver, device uint64
	q                    *Queue
}

type msixEntry struct {
	addr uint64
	data uint32
	ctrl uint32
}

// PCI is a virtio device on the modern (1.x) virtio-over-PCI transport. It implements pci.Function.
type PCI struct {
	dev  Device
	mem  *guestmem.Memory
	msi  irq.MSISender
	log  *slog.Logger
	cs   *pci.ConfigSpace
	nq   int
	feat uint64 // offered features

	msixCapOff   uint32
	pciCfgCapOff uint32

	// mu guards the common configuration and the device lifecycle. Lock order: mu, then msixMu.
	mu             sync.Mutex
	status         uint8
	devFeatSel     uint32
	drvFeatSel     uint32
	driverFeatures uint64
	queueSel       uint16
	queues         []queueState
	generation     uint8
	env            *Env
	workerStop     chan struct{}
	workerDone     chan struct{}
	closed         bool

	// Touched by the worker without mu.
	needsReset atomic.Bool
	isr        atomic.Uint32
	pending    atomic.Uint64 // queues notified and not yet processed
	kick       chan struct{}

	msixMu       sync.Mutex
	msixEnabled  bool
	msixMasked   bool
	msixTable    []msixEntry
	msixPending  []bool
	configVector uint16
	queueVectors []uint16
}

var _ pci.Function = (*PCI)(nil)

// NewPCI puts dev on the virtio PCI transport. Interrupts go out through msi; log may be nil.
func NewPCI(dev Device, mem *guestmem.Memory, msi irq.MSISender, log *slog.Logger) (*PCI, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sizes := dev.QueueSizes()
	if len(sizes) == 0 || len(sizes) > maxQueuesPerDevice {
		return nil, fmt.Errorf("virtio: device type %d has %d queues (1..%d allowed)", dev.Type(), len(sizes), maxQueuesPerDevice)
	}
	if dev.ConfigSize() > regionSize {
		return nil, fmt.Errorf("virtio: device configuration of %d bytes is too large", dev.ConfigSize())
	}
	t := &PCI{dev: dev, mem: mem, msi: msi, nq: len(sizes),
		log:  log.With("virtio", dev.Type()),
		feat: dev.Features() | ringFeaturesAlways,
		kick: make(chan struct{}, 1)}
	t.queues = make([]queueState, t.nq)
	for i, s := range sizes {
		if s == 0 || s > MaxQueueSize || bits.OnesCount16(s) != 1 {
			return nil, fmt.Errorf("virtio: queue %d maximum size %d is not a power of two", i, s)
		}
		t.queues[i] = queueState{max: s, size: s}
	}
	nvec := t.nq + 1
	t.msixTable = make([]msixEntry, nvec)
	for i := range t.msixTable {
		t.msixTable[i].ctrl = msixVectorMasked
	}
	t.msixPending = make([]bool, nvec)
	t.queueVectors = make([]uint16, t.nq)
	t.resetVectorsLocked()

	t.cs = pci.NewConfigSpace(pci.Header{
		VendorID: PCIVendorID, DeviceID: PCIDeviceIDBase + dev.Type(), Revision: pciRevision,
		Class: classOf(dev.Type()), SubsystemVendorID: PCIVendorID, SubsystemID: pciSubsystemID,
	})
	if err := t.cs.SetBAR(modernBARIndex, pci.BAR{Size: modernBARSize, Is64: true, Handler: barHandler{t}}); err != nil {
		return nil, err
	}
	if err := t.addCapabilities(nvec); err != nil {
		return nil, fmt.Errorf("virtio: build capabilities: %w", err)
	}
	t.cs.SetHooks(pci.Hooks{Read: t.configRead, Write: t.configWrite})
	return t, nil
}

func classOf(typ uint16) uint32 {
	switch typ {
	case TypeBlock:
		return 0x01_80_00 // mass storage, other
	case TypeConsole:
		return 0x07_80_00 // communication, other
	case TypeNet:
		return 0x02_00_00
	case TypeInput:
		return 0x09_80_00 // input device, other
	case TypeSCSI:
		return 0x01_00_00 // SCSI controller
	}
	return defaultClass
}

func virtioCap(cfgType, bar byte, offset, length uint32, extra int) []byte {
	// cap_len, cfg_type, bar, id, padding[2], offset, length; the ID and next bytes come from AddCapability.
	b := make([]byte, 14+extra)
	b[0] = byte(16 + extra)
	b[1] = cfgType
	b[2] = bar
	binary.LittleEndian.PutUint32(b[6:], offset)
	binary.LittleEndian.PutUint32(b[10:], length)
	return b
}

func (t *PCI) addCapabilities(nvec int) error {
	add := func(body, mask []byte) (uint32, error) { return t.cs.AddCapability(pciCapVendor, body, mask) }
	if _, err := add(virtioCap(pciCapCommon, modernBARIndex, commonCfgOffset, regionSize, 0), nil); err != nil {
		return err
	}
	notify := virtioCap(pciCapNotify, modernBARIndex, notifyOffset, uint32(t.nq*notifyMultiplier), 4)
	binary.LittleEndian.PutUint32(notify[14:], notifyMultiplier)
	if _, err := add(notify, nil); err != nil {
		return err
	}
	if _, err := add(virtioCap(pciCapISR, modernBARIndex, isrOffset, 1, 0), nil); err != nil {
		return err
	}
	if n := t.dev.ConfigSize(); n > 0 {
		if _, err := add(virtioCap(pciCapDevice, modernBARIndex, deviceCfgOffset, uint32(n), 0), nil); err != nil {
			return err
		}
	}
	// The PCI configuration access window: bar, offset, length and data are the driver's to write.
	cfg := virtioCap(pciCapPCICfg, 0, 0, 0, 4)
	mask := make([]byte, len(cfg))
	mask[2] = 0xff
	for i := 6; i < len(mask); i++ {
		mask[i] = 0xff
	}
	off, err := add(cfg, mask)
	if err != nil {
		return err
	}
	t.pciCfgCapOff = off
	msix := make([]byte, 10)
	binary.LittleEndian.PutUint16(msix[0:], uint16(nvec-1))
	binary.LittleEndian.PutUint32(msix[2:], msixTableOffset|modernBARIndex)
	binary.LittleEndian.PutUint32(msix[6:], msixPBAOffset|modernBARIndex)
	msixMask := make([]byte, 10)
	msixMask[1] = (msixCtrlEnable | msixCtrlMaskAll) >> 8
	if t.msixCapOff, err = t.cs.AddCapability(pci.CapabilityIDMSIX, msix, msixMask); err != nil {
		return err
	}
	return nil
}

// Config is the function's PCI configuration space.
func (t *PCI) Config() *pci.ConfigSpace { return t.cs }

// Device is the device behind the transport.
func (t *PCI) Device() Device { return t.dev }

// Close stops the device's worker and closes its backend. The function must be taken off the bus first or its
// registers stay readable but inert.
func (t *PCI) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	t.stopWorkerLocked()
	return t.dev.Close()
}

func overlaps(off uint32, n int, start, size uint32) bool {
	return off < start+size && start < off+uint32(n)
}

// configRead serves reads of the PCI configuration access window's data.
func (t *PCI) configRead(offset uint32, data []byte) {
	dataOff := t.pciCfgCapOff + pciCfgDataOffset
	if !overlaps(offset, len(data), dataOff, 4) {
		return
	}
	var win [4]byte
	if t.windowAccess(win[:], false) {
		for i := range data {
			if o := offset + uint32(i); o >= dataOff && o < dataOff+4 {
				data[i] = win[o-dataOff]
			}
		}
	}
}

// configWrite reacts to writes of the MSI-X message control and the configuration access window.
func (t *PCI) configWrite(offset uint32, data []byte) {
	if overlaps(offset, len(data), t.msixCapOff+2, 2) {
		var ctrl [2]byte
		t.cs.Bytes(t.msixCapOff+2, ctrl[:])
		v := binary.LittleEndian.Uint16(ctrl[:])
		t.msixMu.Lock()
		t.msixEnabled = v&msixCtrlEnable != 0
		t.msixMasked = v&msixCtrlMaskAll != 0
		deliver := t.collectUnmaskedLocked()
		t.msixMu.Unlock()
		t.send(deliver)
	}
	if overlaps(offset, len(data), t.pciCfgCapOff+pciCfgDataOffset, 4) {
		var win [4]byte
		t.cs.Bytes(t.pciCfgCapOff+pciCfgDataOffset, win[:])
		t.windowAccess(win[:], true)
	}
}

// windowAccess performs the BAR access the configuration access window describes (virtio 1.2, 4.1.4.9).
func (t *PCI) windowAccess(win []byte, write bool) bool {
	var c [16]byte
	t.cs.Bytes(t.pciCfgCapOff, c[:])
	bar, off, n := c[4], binary.LittleEndian.Uint32(c[8:]), binary.LittleEndian.Uint32(c[12:])
	if bar != modernBARIndex || (n != 1 && n != 2 && n != 4) || off%n != 0 || uint64(off)+uint64(n) > modernBARSize {
		return false
	}
	h := barHandler{t}
	if write {
		h.Write(uint64(off), win[:n])
	} else {
		h.Read(uint64(off), win[:n])
	}
	return true
}

type barHandler struct{ t *PCI }

func (h barHandler) Read(off uint64, data []byte) {
	t := h.t
	clear(data)
	switch {
	case off < commonCfgOffset+regionSize:
		t.readCommon(uint32(off), data)
	case off < isrOffset+regionSize:
		if off == isrOffset {
			data[0] = byte(t.isr.Swap(0)) // reading the ISR clears it
		}
	case off < deviceCfgOffset+regionSize:
		o := off - deviceCfgOffset
		if o+uint64(len(data)) <= uint64(t.dev.ConfigSize()) {
			t.dev.ReadConfig(uint32(o), data)
		}
	case off < notifyOffset+regionSize:
	case off < msixTableOffset+regionSize:
		t.readMSIXTable(off-msixTableOffset, data)
	case off < msixPBAOffset+regionSize:
		t.readPBA(off-msixPBAOffset, data)
	}
}

func (h barHandler) Write(off uint64, data []byte) {
	t := h.t
	// Notifications come first: they are the hot path and need no lock.
	if off >= notifyOffset && off < notifyOffset+regionSize {
		q := (off - notifyOffset) / notifyMultiplier
		if q < uint64(t.nq) {
			t.notify(int(q))
		}
		return
	}
	switch {
	case off < commonCfgOffset+regionSize:
		t.writeCommon(uint32(off), data)
	case off < isrOffset+regionSize:
	case off < deviceCfgOffset+regionSize:
		o := off - deviceCfgOffset
		if o+uint64(len(data)) <= uint64(t.dev.ConfigSize()) {
			t.dev.WriteConfig(uint32(o), data)
		}
	case off < msixTableOffset+regionSize:
		t.writeMSIXTable(off-msixTableOffset, data)
	}
}

// notify marks queue q as having work and wakes the worker.
func (t *PCI) notify(q int) {
	t.pending.Or(1 << uint(q))
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// renderCommon lays out the common configuration structure as the driver sees it.
func (t *PCI) renderCommon(b *[0x40]byte) {
	le := binary.LittleEndian
	le.PutUint32(b[CommonDeviceFeatureSelect:], t.devFeatSel)
	if t.devFeatSel < 2 {
		le.PutUint32(b[CommonDeviceFeature:], uint32(t.feat>>(32*t.devFeatSel)))
	}
	le.PutUint32(b[CommonDriverFeatureSelect:], t.drvFeatSel)
	if t.drvFeatSel < 2 {
		le.PutUint32(b[CommonDriverFeature:], uint32(t.driverFeatures>>(32*t.drvFeatSel)))
	}
	le.PutUint16(b[CommonNumQueues:], uint16(t.nq))
	status := t.status
	if t.needsReset.Load() {
		status |= StatusDeviceNeedsReset
	}
	b[CommonDeviceStatus] = status
	b[CommonConfigGeneration] = t.generation
	le.PutUint16(b[CommonQueueSelect:], t.queueSel)
	t.msixMu.Lock()
	le.PutUint16(b[CommonConfigMSIXVector:], t.configVector)
	if int(t.queueSel) < t.nq {
		le.PutUint16(b[CommonQueueMSIXVector:], t.queueVectors[t.queueSel])
	}
	t.msixMu.Unlock()
	if int(t.queueSel) < t.nq {
		q := &t.queues[t.queueSel]
		le.PutUint16(b[CommonQueueSize:], q.size)
		if q.enabled {
			le.PutUint16(b[CommonQueueEnable:], 1)
		}
		le.PutUint16(b[CommonQueueNotifyOff:], t.queueSel)
		le.PutUint64(b[CommonQueueDesc:], q.desc)
		le.PutUint64(b[CommonQueueDriver:], q.driver)
		le.PutUint64(b[CommonQueueDevice:], q.device)
		le.PutUint16(b[CommonQueueNotifyData:], t.queueSel)
	}
}

func (t *PCI) readCommon(off uint32, data []byte) {
	if uint64(off)+uint64(len(data)) > commonCfgSize {
		return
	}
	var b [0x40]byte
	t.mu.Lock()
	t.renderCommon(&b)
	t.mu.Unlock()
	copy(data, b[off:])
}

// writeCommon merges the write into the rendered structure and applies each field it touched, so any access
// width works (Linux writes 64-bit addresses as two dwords).
func (t *PCI) writeCommon(off uint32, data []byte) {
	if uint64(off)+uint64(len(data)) > commonCfgSize {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	var b [0x40]byte
	t.renderCommon(&b)
	copy(b[off:], data)
	le := binary.LittleEndian
	touched := func(field, size uint32) bool { return overlaps(off, len(data), field, size) }
	q := t.selectedQueue()
	// Queue fields are the driver's to set only while the queue is disabled and the device is not live.
	queueWritable := q != nil && !q.enabled && t.status&StatusDriverOK == 0

	if touched(CommonDeviceFeatureSelect, 4) {
		t.devFeatSel = le.Uint32(b[CommonDeviceFeatureSelect:])
	}
	if touched(CommonDriverFeatureSelect, 4) {
		t.drvFeatSel = le.Uint32(b[CommonDriverFeatureSelect:])
	}
	if touched(CommonDriverFeature, 4) && t.drvFeatSel < 2 && t.status&StatusFeaturesOK == 0 {
		shift := 32 * t.drvFeatSel
		t.driverFeatures = t.driverFeatures&^(0xffff_ffff<<shift) | uint64(le.Uint32(b[CommonDriverFeature:]))<<shift
	}
	if touched(CommonConfigMSIXVector, 2) {
		v := le.Uint16(b[CommonConfigMSIXVector:])
		t.msixMu.Lock()
		t.configVector = t.validVector(v)
		t.msixMu.Unlock()
	}
	if touched(CommonQueueSelect, 2) {
		t.queueSel = le.Uint16(b[CommonQueueSelect:])
		q = t.selectedQueue()
		queueWritable = q != nil && !q.enabled && t.status&StatusDriverOK == 0
	}
	if touched(CommonQueueSize, 2) && queueWritable {
		q.size = le.Uint16(b[CommonQueueSize:])
	}
	if touched(CommonQueueMSIXVector, 2) && q != nil {
		v := le.Uint16(b[CommonQueueMSIXVector:])
		t.msixMu.Lock()
		t.queueVectors[t.queueSel] = t.validVector(v)
		t.msixMu.Unlock()
	}
	if touched(CommonQueueDesc, 8) && queueWritable {
		q.desc = le.Uint64(b[CommonQueueDesc:])
	}
	if touched(CommonQueueDriver, 8) && queueWritable {
		q.driver = le.Uint64(b[CommonQueueDriver:])
	}
	if touched(CommonQueueDevice, 8) && queueWritable {
		q.device = le.Uint64(b[CommonQueueDevice:])
	}
	if touched(CommonQueueEnable, 2) && queueWritable && le.Uint16(b[CommonQueueEnable:]) == 1 {
		t.enableQueueLocked(q)
	}
	if touched(CommonDeviceStatus, 1) {
		t.setStatusLocked(b[CommonDeviceStatus])
	}
}

func (t *PCI) selectedQueue() *queueState {
	if int(t.queueSel) < t.nq {
		return &t.queues[t.queueSel]
	}
	return nil
}

// validVector keeps a vector the table has; anything else reads back as NoVector, which tells Linux to give up
// on that vector layout. Call with msixMu held.
func (t *PCI) validVector(v uint16) uint16 {
	if int(v) < len(t.msixTable) {
		return v
	}
	return NoVector
}

func (t *PCI) enableQueueLocked(q *queueState) {
	if q.size > q.max {
		t.failLocked(violation("queue size %d above the maximum %d", q.size, q.max))
		return
	}
	vq, err := NewQueue(t.mem, QueueConfig{Size: q.size, Desc: q.desc, Driver: q.driver, Device: q.device}, t.driverFeatures)
	if err != nil {
		t.failLocked(err)
		return
	}
	q.q, q.enabled = vq, true
}

func (t *PCI) setStatusLocked(v uint8) {
	if v == 0 {
		t.resetLocked()
		return
	}
	old := t.status
	if v&StatusFeaturesOK != 0 && old&StatusFeaturesOK == 0 && !t.featuresAcceptable() {
		v &^= StatusFeaturesOK
	}
	if v&StatusDriverOK != 0 && old&StatusDriverOK == 0 {
		if v&StatusFeaturesOK == 0 || v&StatusFailed != 0 {
			v &^= StatusDriverOK
		} else if err := t.activateLocked(); err != nil {
			t.log.Warn("virtio: device failed to start", "err", err)
			t.failLocked(err)
		}
	}
	if v&StatusFailed != 0 && old&StatusFailed == 0 {
		t.stopWorkerLocked()
	}
	t.status = v &^ StatusDeviceNeedsReset
}

// featuresAcceptable checks the driver's choice: a subset of what was offered, including VERSION_1 (this is a
// modern-only device).
func (t *PCI) featuresAcceptable() bool {
	return t.driverFeatures&^t.feat == 0 && t.driverFeatures&FeatureVersion1 != 0
}

func (t *PCI) activateLocked() error {
	env := &Env{Features: t.driverFeatures, Queues: make([]*Queue, t.nq), Mem: t.mem, Log: t.log, t: t}
	var all uint64
	for i := range t.queues {
		if t.queues[i].enabled {
			env.Queues[i] = t.queues[i].q
			all |= 1 << uint(i)
		}
	}
	if err := t.dev.Activate(env); err != nil {
		return err
	}
	t.env = env
	t.workerStop = make(chan struct{})
	t.workerDone = make(chan struct{})
	// Buffers made available before DRIVER_OK are looked at now.
	t.pending.Or(all)
	go t.run(env, t.workerStop, t.workerDone)
	t.notifyWorker()
	return nil
}

func (t *PCI) notifyWorker() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// run is the device's worker: it services notified queues one at a time until stopped.
func (t *PCI) run(env *Env, stop, done chan struct{}) {
	defer close(done)
	for {
		select {
		case <-stop:
			return
		case <-t.kick:
		}
		for {
			p := t.pending.Swap(0)
			if p == 0 {
				break
			}
			for p != 0 {
				q := bits.TrailingZeros64(p)
				p &^= 1 << uint(q)
				if t.needsReset.Load() {
					continue
				}
				select {
				case <-stop:
					return
				default:
				}
				vq := env.Queues[q]
				if vq != nil {
					vq.refill()
				}
				t.dev.Process(q)
				if vq != nil && vq.refill() {
					t.pending.Or(1 << uint(q)) // more left: come back after the other queues had a turn
				}
			}
		}
	}
}

func (t *PCI) stopWorkerLocked() {
	if t.env == nil {
		return
	}
	t.env.stopped.Store(true)
	close(t.workerStop)
	<-t.workerDone
	t.env = nil
}

// resetLocked is the driver writing 0 to device_status.
func (t *PCI) resetLocked() {
	t.stopWorkerLocked()
	t.dev.Reset()
	t.status = 0
	t.driverFeatures = 0
	t.devFeatSel, t.drvFeatSel, t.queueSel = 0, 0, 0
	for i := range t.queues {
		t.queues[i] = queueState{max: t.queues[i].max, size: t.queues[i].max}
	}
	t.pending.Store(0)
	t.isr.Store(0)
	t.needsReset.Store(false)
	t.msixMu.Lock()
	t.resetVectorsLocked()
	t.msixMu.Unlock()
}

func (t *PCI) resetVectorsLocked() {
	t.configVector = NoVector
	for i := range t.queueVectors {
		t.queueVectors[i] = NoVector
	}
}

func (t *PCI) fail(err error) {
	if t.needsReset.Swap(true) {
		return
	}
	t.log.Warn("virtio: device needs reset", "err", err)
	t.configChanged()
}

func (t *PCI) failLocked(err error) { t.fail(err) }

func (t *PCI) configChanged() {
	t.isr.Or(isrConfig)
	t.msixMu.Lock()
	v := t.configVector
	t.msixMu.Unlock()
	t.signal(v)
}

func (t *PCI) queueInterrupt(q int) {
	t.isr.Or(isrQueue)
	t.msixMu.Lock()
	v := t.queueVectors[q]
	t.msixMu.Unlock()
	t.signal(v)
}

type msiMessage struct {
	addr uint64
	data uint32
}

// signal raises MSI-X vector v, or leaves it pending while it is masked.
func (t *PCI) signal(v uint16) {
	t.msixMu.Lock()
	if !t.msixEnabled || int(v) >= len(t.msixTable) {
		t.msixMu.Unlock()
		return
	}
	e := t.msixTable[v]
	if t.msixMasked || e.ctrl&msixVectorMasked != 0 {
		t.msixPending[v] = true
		t.msixMu.Unlock()
		return
	}
	t.msixMu.Unlock()
	t.send([]msiMessage{{e.addr, e.data}})
}

func (t *PCI) send(msgs []msiMessage) {
	for _, m := range msgs {
		if err := t.msi.SignalMSI(m.addr, m.data); err != nil {
			t.log.Warn("virtio: MSI delivery failed", "addr", fmt.Sprintf("%#x", m.addr), "err", err)
		}
	}
}

// collectUnmaskedLocked clears the pending bits of vectors that may now fire and returns their messages.
func (t *PCI) collectUnmaskedLocked() []msiMessage {
	if !t.msixEnabled || t.msixMasked {
		return nil
	}
	var out []msiMessage
	for i, p := range t.msixPending {
		if p && t.msixTable[i].ctrl&msixVectorMasked == 0 {
			t.msixPending[i] = false
			out = append(out, msiMessage{t.msixTable[i].addr, t.msixTable[i].data})
		}
	}
	return out
}

func (t *PCI) readMSIXTable(off uint64, data []byte) {
	var b [msixEntrySize]byte
	idx := off / msixEntrySize
	in := off % msixEntrySize
	if idx >= uint64(len(t.msixTable)) || in+uint64(len(data)) > msixEntrySize {
		return
	}
	t.msixMu.Lock()
	e := t.msixTable[idx]
	t.msixMu.Unlock()
	binary.LittleEndian.PutUint64(b[0:], e.addr)
	binary.LittleEndian.PutUint32(b[8:], e.data)
	binary.LittleEndian.PutUint32(b[12:], e.ctrl)
	copy(data, b[in:])
}

func (t *PCI) writeMSIXTable(off uint64, data []byte) {
	idx := off / msixEntrySize
	in := off % msixEntrySize
	if idx >= uint64(len(t.msixTable)) || in+uint64(len(data)) > msixEntrySize {
		return
	}
	t.msixMu.Lock()
	e := &t.msixTable[idx]
	var b [msixEntrySize]byte
	binary.LittleEndian.PutUint64(b[0:], e.addr)
	binary.LittleEndian.PutUint32(b[8:], e.data)
	binary.LittleEndian.PutUint32(b[12:], e.ctrl)
	copy(b[in:], data)
	e.addr = binary.LittleEndian.Uint64(b[0:])
	e.data = binary.LittleEndian.Uint32(b[8:])
	e.ctrl = binary.LittleEndian.Uint32(b[12:]) & msixVectorMasked
	deliver := t.collectUnmaskedLocked()
	t.msixMu.Unlock()
	t.send(deliver)
}

func (t *PCI) readPBA(off uint64, data []byte) {
	t.msixMu.Lock()
	defer t.msixMu.Unlock()
	for i := range data {
		var v byte
		for bit := 0; bit < 8; bit++ {
			vec := (off+uint64(i))*8 + uint64(bit)
			if vec < uint64(len(t.msixPending)) && t.msixPending[vec] {
				v |= 1 << bit
			}
		}
		data[i] = v
	}
}
