package virtio_test

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"paddock/engine/virtio"
	"paddock/engine/virtio/rng"
	"paddock/engine/virtio/virtiotest"
)

const wait = 2 * time.Second

func attachRNG(t *testing.T) (*virtiotest.Machine, *virtio.PCI, *virtiotest.Driver) {
	t.Helper()
	m, err := virtiotest.NewMachine(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	fn, d, err := m.Attach(rng.New())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fn.Close() })
	return m, fn, d
}

func TestPCIIdentityAndCapabilities(t *testing.T) {
	m, _, d := attachRNG(t)
	if d.VendorID != 0x1AF4 || d.DeviceID != 0x1044 {
		t.Fatalf("ID %04x:%04x, want 1af4:1044", d.VendorID, d.DeviceID)
	}
	if rev := m.ConfigRead(d.Slot, 0x08, 1); rev != 1 {
		t.Fatalf("revision %d", rev)
	}
	if pin := m.ConfigRead(d.Slot, 0x3D, 1); pin != 0 {
		t.Fatalf("interrupt pin %d", pin)
	}
	bar := m.ConfigRead(d.Slot, 0x20, 4)
	if bar&0x7 != 0x4 {
		t.Fatalf("BAR4 = %#x, want a 64-bit memory BAR", bar)
	}
	common := d.Caps[virtiotest.CapCommon]
	notify := d.Caps[virtiotest.CapNotify]
	isr := d.Caps[virtiotest.CapISR]
	for _, c := range []virtiotest.Cap{common, notify, isr, d.Caps[virtiotest.CapPCICfg]} {
		if c.BAR != 4 && c.Type != virtiotest.CapPCICfg {
			t.Errorf("capability %d in BAR %d", c.Type, c.BAR)
		}
	}
	if common.Length < 0x38 {
		t.Fatalf("common configuration length %#x", common.Length)
	}
	if notify.Multiplier != 4 || notify.Length < 4 {
		t.Fatalf("notify multiplier %d length %d", notify.Multiplier, notify.Length)
	}
	if _, ok := d.Caps[virtiotest.CapDevice]; ok {
		t.Fatal("rng has no device configuration, but a capability for one")
	}
	if d.MSIXSize != 2 {
		t.Fatalf("MSI-X table of %d vectors, want 2 (config + 1 queue)", d.MSIXSize)
	}
	// Common configuration at the spec's offsets.
	if n := d.CommonRead(virtio.CommonNumQueues, 2); n != 1 {
		t.Fatalf("num_queues = %d", n)
	}
	d.CommonWrite(virtio.CommonQueueSelect, 2, 0)
	if s := d.CommonRead(virtio.CommonQueueSize, 2); s != 64 {
		t.Fatalf("queue_size = %d", s)
	}
	if off := d.CommonRead(virtio.CommonQueueNotifyOff, 2); off != 0 {
		t.Fatalf("queue_notify_off = %d", off)
	}
	d.CommonWrite(virtio.CommonQueueSelect, 2, 7)
	if s := d.CommonRead(virtio.CommonQueueSize, 2); s != 0 {
		t.Fatalf("queue_size of a queue that does not exist = %d", s)
	}
	if f := d.DeviceFeatures(); f&virtio.FeatureVersion1 == 0 || f&virtio.FeatureRingIndirectDesc == 0 {
		t.Fatalf("device features %#x lack VERSION_1 or INDIRECT_DESC", f)
	}
	// 64-bit fields accept two 32-bit halves and one 64-bit write alike.
	d.CommonWrite(virtio.CommonQueueSelect, 2, 0)
	d.CommonWrite(virtio.CommonQueueDesc, 4, 0x1234_5000)
	d.CommonWrite(virtio.CommonQueueDesc+4, 4, 0x9)
	if v := d.CommonRead(virtio.CommonQueueDesc, 8); v != 0x9_1234_5000 {
		t.Fatalf("queue_desc = %#x", v)
	}
	d.CommonWrite(virtio.CommonQueueDriver, 8, 0xabc0)
	if v := d.CommonRead(virtio.CommonQueueDriver, 4); v != 0xabc0 {
		t.Fatalf("queue_driver = %#x", v)
	}
}

func TestFeatureNegotiation(t *testing.T) {
	_, _, d := attachRNG(t)
	if err := d.Negotiate(virtio.FeatureRingIndirectDesc); !errors.Is(err, virtiotest.ErrFeaturesRefused) {
		t.Fatalf("a driver without VERSION_1 got %v", err)
	}
	// A feature that was never offered is refused as well.
	d.SetStatus(0)
	d.SetStatus(virtio.StatusAcknowledge | virtio.StatusDriver)
	d.CommonWrite(virtio.CommonDriverFeatureSelect, 4, 1)
	d.CommonWrite(virtio.CommonDriverFeature, 4, 1|1<<10)
	d.SetStatus(virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFeaturesOK)
	if d.Status()&virtio.StatusFeaturesOK != 0 {
		t.Fatal("FEATURES_OK with an unoffered feature")
	}
	if err := d.Negotiate(virtio.FeatureVersion1 | virtio.FeatureRingEventIdx); err != nil {
		t.Fatal(err)
	}
	// Features are frozen once FEATURES_OK is set.
	d.CommonWrite(virtio.CommonDriverFeatureSelect, 4, 0)
	d.CommonWrite(virtio.CommonDriverFeature, 4, 0)
	if v := d.CommonRead(virtio.CommonDriverFeature, 4); v != virtio.FeatureRingEventIdx {
		t.Fatalf("driver features changed after FEATURES_OK: %#x", v)
	}
	// DRIVER_OK without FEATURES_OK does not stick.
	d.SetStatus(0)
	d.SetStatus(virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusDriverOK)
	if d.Status()&virtio.StatusDriverOK != 0 {
		t.Fatal("DRIVER_OK accepted before feature negotiation")
	}
}

// rngRequest asks for n random bytes and returns them.
func rngRequest(t *testing.T, m *virtiotest.Machine, q *virtiotest.Queue, n uint32) []byte {
	t.Helper()
	buf, err := m.Alloc(uint64(n), 16)
	if err != nil {
		t.Fatal(err)
	}
	got, err := q.Submit([]virtiotest.Buf{{Addr: buf, Len: n, Write: true}}, wait)
	if err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Fatalf("used length %d, want %d", got, n)
	}
	return m.RAM[buf : buf+uint64(n)]
}

func TestRNGAndQueueVectors(t *testing.T) {
	m, _, d := attachRNG(t)
	if err := d.Setup(virtio.FeatureVersion1, 1); err != nil {
		t.Fatal(err)
	}
	q := d.Queues[0]
	b := rngRequest(t, m, q, 64)
	zeros := 0
	for _, v := range b {
		if v == 0 {
			zeros++
		}
	}
	if zeros > 8 {
		t.Fatalf("%d zero bytes of 64: not random", zeros)
	}
	if m.MSI.Count(1) == 0 {
		t.Fatal("no interrupt on the queue's vector")
	}
	for _, msg := range m.MSI.All() {
		if msg.Addr != virtiotest.MSIAddress {
			t.Fatalf("MSI to %#x", msg.Addr)
		}
	}
	// A vector outside the table reads back as NO_VECTOR.
	if v := d.SetConfigVector(9); v != virtio.NoVector {
		t.Fatalf("config vector 9 read back as %d", v)
	}
}

func TestMSIXMasking(t *testing.T) {
	m, _, d := attachRNG(t)
	if err := d.Setup(virtio.FeatureVersion1, 1); err != nil {
		t.Fatal(err)
	}
	q := d.Queues[0]
	buf, _ := m.Alloc(16, 16)
	submit := func() {
		if _, err := q.Add([]virtiotest.Buf{{Addr: buf, Len: 16, Write: true}}); err != nil {
			t.Fatal(err)
		}
		q.Kick()
		deadline := time.Now().Add(wait)
		for len(q.TakeUsed()) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("request not completed")
			}
			time.Sleep(time.Millisecond)
		}
	}
	// Per-vector mask: the interrupt waits in the PBA and fires on unmask.
	d.MaskVector(1, true)
	before := m.MSI.Count(1)
	submit()
	time.Sleep(10 * time.Millisecond)
	if m.MSI.Count(1) != before || !d.Pending(1) {
		t.Fatalf("masked vector: %d interrupts, pending %v", m.MSI.Count(1)-before, d.Pending(1))
	}
	d.MaskVector(1, false)
	if !m.MSI.WaitCount(1, before+1, wait) || d.Pending(1) {
		t.Fatal("pending interrupt not delivered on unmask")
	}
	// Function mask: the same through the capability's control register.
	d.SetMSIXControl(true, true)
	before = m.MSI.Count(1)
	submit()
	time.Sleep(10 * time.Millisecond)
	if m.MSI.Count(1) != before || !d.Pending(1) {
		t.Fatal("function mask did not hold the interrupt")
	}
	d.SetMSIXControl(true, false)
	if !m.MSI.WaitCount(1, before+1, wait) {
		t.Fatal("interrupt not delivered when the function mask was cleared")
	}
	// MSI-X off: nothing is delivered.
	d.SetMSIXControl(false, false)
	before = m.MSI.Count(1)
	submit()
	time.Sleep(10 * time.Millisecond)
	if m.MSI.Count(1) != before {
		t.Fatal("interrupt delivered with MSI-X disabled")
	}
	if d.ReadISR()&1 == 0 {
		t.Fatal("ISR queue bit not set")
	}
	if d.ReadISR() != 0 {
		t.Fatal("reading the ISR did not clear it")
	}
}

func TestResetStopsWorkerAndAllowsRestart(t *testing.T) {
	m, fn, d := attachRNG(t)
	base := runtime.NumGoroutine()
	if err := d.Setup(virtio.FeatureVersion1, 1); err != nil {
		t.Fatal(err)
	}
	rngRequest(t, m, d.Queues[0], 32)
	if err := d.Reset(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after reset, %d before setup", runtime.NumGoroutine(), base)
		}
		time.Sleep(time.Millisecond)
	}
	d.CommonWrite(virtio.CommonQueueSelect, 2, 0)
	if d.CommonRead(virtio.CommonQueueEnable, 2) != 0 || d.CommonRead(virtio.CommonQueueMSIXVector, 2) != virtio.NoVector {
		t.Fatal("queue state survived reset")
	}
	if err := d.Setup(virtio.FeatureVersion1, 1); err != nil {
		t.Fatal(err)
	}
	rngRequest(t, m, d.Queues[0], 32)
	if err := fn.Close(); err != nil {
		t.Fatal(err)
	}
}

// expectNeedsReset checks the device flagged DEVICE_NEEDS_RESET and raised a config interrupt (vector 0).
func expectNeedsReset(t *testing.T, m *virtiotest.Machine, d *virtiotest.Driver, configBefore int) {
	t.Helper()
	if !m.MSI.WaitCount(0, configBefore+1, wait) {
		t.Fatal("no configuration-change interrupt")
	}
	if d.Status()&virtio.StatusDeviceNeedsReset == 0 {
		t.Fatalf("status %#x lacks DEVICE_NEEDS_RESET", d.Status())
	}
}

func TestHostileQueueSetsNeedsReset(t *testing.T) {
	cases := map[string]func(m *virtiotest.Machine, q *virtiotest.Queue){
		"descriptor loop": func(m *virtiotest.Machine, q *virtiotest.Queue) {
			q.WriteDesc(0, 0x8000, 16, virtio.DescFlagNext|virtio.DescFlagWrite, 1)
			q.WriteDesc(1, 0x8000, 16, virtio.DescFlagNext|virtio.DescFlagWrite, 0)
			q.Publish(0)
		},
		"address outside RAM": func(m *virtiotest.Machine, q *virtiotest.Queue) {
			q.WriteDesc(0, 1<<40, 16, virtio.DescFlagWrite, 0)
			q.Publish(0)
		},
		"length that overflows": func(m *virtiotest.Machine, q *virtiotest.Queue) {
			q.WriteDesc(0, 0xffff_ffff_ffff_ff00, 0x1000, virtio.DescFlagWrite, 0)
			q.Publish(0)
		},
		"indirect inside indirect": func(m *virtiotest.Machine, q *virtiotest.Queue) {
			table, _ := m.Alloc(64, 16)
			inner, _ := m.Alloc(16, 16)
			q.AddIndirect([]virtiotest.Buf{{Addr: inner, Len: 16}}, table)
			// Turn the table's only entry into another indirect descriptor.
			m.RAM[table+12] = virtio.DescFlagIndirect
		},
		"absurd avail index": func(m *virtiotest.Machine, q *virtiotest.Queue) {
			q.SetAvailIdx(30000)
		},
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			m, _, d := attachRNG(t)
			if err := d.Setup(virtio.FeatureVersion1|virtio.FeatureRingIndirectDesc, 1); err != nil {
				t.Fatal(err)
			}
			q := d.Queues[0]
			before := m.MSI.Count(0)
			build(m, q)
			q.Kick()
			expectNeedsReset(t, m, d, before)
			// A broken device stays quiet until reset, then works again.
			if err := d.Setup(virtio.FeatureVersion1, 1); err != nil {
				t.Fatal(err)
			}
			if d.Status()&virtio.StatusDeviceNeedsReset != 0 {
				t.Fatal("DEVICE_NEEDS_RESET survived reset")
			}
			rngRequest(t, m, d.Queues[0], 16)
		})
	}
}

func TestBadQueueConfigurationSetsNeedsReset(t *testing.T) {
	m, _, d := attachRNG(t)
	if err := d.Negotiate(virtio.FeatureVersion1); err != nil {
		t.Fatal(err)
	}
	d.EnableMSIX()
	d.SetConfigVector(0)
	d.CommonWrite(virtio.CommonQueueSelect, 2, 0)
	d.CommonWrite(virtio.CommonQueueSize, 2, 48) // not a power of two
	d.CommonWrite(virtio.CommonQueueDesc, 8, 0x1000)
	d.CommonWrite(virtio.CommonQueueDriver, 8, 0x2000)
	d.CommonWrite(virtio.CommonQueueDevice, 8, 0x3000)
	d.CommonWrite(virtio.CommonQueueEnable, 2, 1)
	expectNeedsReset(t, m, d, 0)
	if d.CommonRead(virtio.CommonQueueEnable, 2) != 0 {
		t.Fatal("queue with a bad size was enabled")
	}

	if err := d.Negotiate(virtio.FeatureVersion1); err != nil {
		t.Fatal(err)
	}
	d.EnableMSIX()
	d.SetConfigVector(0)
	d.CommonWrite(virtio.CommonQueueSelect, 2, 0)
	d.CommonWrite(virtio.CommonQueueSize, 2, 128) // above the maximum
	d.CommonWrite(virtio.CommonQueueEnable, 2, 1)
	expectNeedsReset(t, m, d, 1)
}

func TestEventIdxSuppressesInterrupts(t *testing.T) {
	m, _, d := attachRNG(t)
	if err := d.Setup(virtio.FeatureVersion1|virtio.FeatureRingEventIdx, 1); err != nil {
		t.Fatal(err)
	}
	q := d.Queues[0]
	buf, _ := m.Alloc(64, 16)
	// used_event = 1: no interrupt for the first completion, one for the second.
	q.SetUsedEvent(1)
	q.Add([]virtiotest.Buf{{Addr: buf, Len: 8, Write: true}})
	q.Kick()
	deadline := time.Now().Add(wait)
	for len(q.TakeUsed()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("first request not completed")
		}
		time.Sleep(time.Millisecond)
	}
	if n := m.MSI.Count(1); n != 0 {
		t.Fatalf("%d interrupts before used_event was passed", n)
	}
	if _, err := q.Submit([]virtiotest.Buf{{Addr: buf, Len: 8, Write: true}}, wait); err != nil {
		t.Fatal(err)
	}
	if m.MSI.Count(1) != 1 {
		t.Fatalf("%d interrupts, want 1", m.MSI.Count(1))
	}
}

func TestPCIConfigAccessWindow(t *testing.T) {
	m, _, d := attachRNG(t)
	c := d.Caps[virtiotest.CapPCICfg]
	// Read num_queues (common cfg offset 0x12 in BAR 4) through the window, as SeaBIOS does for high BARs.
	m.ConfigWrite(d.Slot, c.ConfigOffset+4, 1, 4)
	m.ConfigWrite(d.Slot, c.ConfigOffset+8, 4, virtio.CommonNumQueues)
	m.ConfigWrite(d.Slot, c.ConfigOffset+12, 4, 2)
	if v := m.ConfigRead(d.Slot, c.ConfigOffset+16, 2); v != 1 {
		t.Fatalf("num_queues through the window = %d", v)
	}
	// Write device_status through it.
	m.ConfigWrite(d.Slot, c.ConfigOffset+8, 4, virtio.CommonDeviceStatus)
	m.ConfigWrite(d.Slot, c.ConfigOffset+12, 4, 1)
	m.ConfigWrite(d.Slot, c.ConfigOffset+16, 1, virtio.StatusAcknowledge)
	if d.Status() != virtio.StatusAcknowledge {
		t.Fatalf("status = %#x after a window write", d.Status())
	}
}

func TestRootCloseStopsWorkers(t *testing.T) {
	m, err := virtiotest.NewMachine(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	var drivers []*virtiotest.Driver
	for i := 0; i < 3; i++ {
		_, d, err := m.Attach(rng.New())
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Setup(virtio.FeatureVersion1, 1); err != nil {
			t.Fatal(err)
		}
		drivers = append(drivers, d)
	}
	if runtime.NumGoroutine() < base+3 {
		t.Fatal("no workers running")
	}
	if err := m.Root.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left running after Close", runtime.NumGoroutine()-base)
		}
		time.Sleep(time.Millisecond)
	}
	// The functions are gone from the bus.
	if id := m.ConfigRead(drivers[0].Slot, 0, 4); id != 0xffff_ffff {
		t.Fatalf("closed function still answers: %#x", id)
	}
}

// A driver whose buffers overlap its own avail ring has the device rewrite the ring under itself; the worker must
// still stop promptly on reset.
func TestSelfFeedingQueueStillResets(t *testing.T) {
	_, _, d := attachRNG(t)
	if err := d.Setup(virtio.FeatureVersion1, 1); err != nil {
		t.Fatal(err)
	}
	q := d.Queues[0]
	for i := uint16(0); i < q.Size; i++ {
		q.WriteDesc(i, q.Avail, uint32(6+2*q.Size), virtio.DescFlagWrite, 0)
	}
	q.Publish(0)
	q.Kick()
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	if err := d.Reset(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Fatalf("reset took %v", took)
	}
}
