package virtio

import (
	"log/slog"
	"sync/atomic"

	"paddock/engine/guestmem"
)

// Device is one virtio device type's behaviour, independent of the transport.
type Device interface {
	// Type is the virtio device type (TypeBlock, ...).
	Type() uint16
	// Features are the device-type and ring feature bits offered; the transport adds FeatureVersion1.
	Features() uint64
	// QueueSizes gives each queue's maximum size (a power of two); its length is the number of queues.
	QueueSizes() []uint16
	// ConfigSize is the size of the device-specific configuration structure.
	ConfigSize() int
	// ReadConfig and WriteConfig access the device configuration; offset+len(data) <= ConfigSize. They may be
	// called from any vCPU at any time.
	ReadConfig(offset uint32, data []byte)
	WriteConfig(offset uint32, data []byte)
	// Activate runs when the driver sets DRIVER_OK. The device keeps env until Reset.
	Activate(env *Env) error
	// Process services queue index (after a notify or a Kick). It runs on the device's worker goroutine only.
	Process(queue int)
	// Reset returns the device to its initial state; the worker has already stopped.
	Reset()
	// Close releases the device's backend (files, host-side ports). Its worker has already stopped.
	Close() error
}

// Env is what an activated device gets from its transport.
type Env struct {
	// Features are the negotiated feature bits.
	Features uint64
	// Queues holds each queue the driver enabled, or nil; index as in Device.QueueSizes.
	Queues []*Queue
	Mem    *guestmem.Memory
	Log    *slog.Logger

	t       *PCI
	stopped atomic.Bool
}

// Interrupt tells the driver that queue index has new used buffers, unless the driver suppressed it. Call it from
// Process only.
func (e *Env) Interrupt(queue int) {
	if e.stopped.Load() || queue < 0 || queue >= len(e.Queues) || e.Queues[queue] == nil {
		return
	}
	if e.Queues[queue].NeedsInterrupt() {
		e.t.queueInterrupt(queue)
	}
}

// Kick schedules Process(queue) on the worker; any goroutine may call it.
func (e *Env) Kick(queue int) {
	if !e.stopped.Load() {
		e.t.notify(queue)
	}
}

// Fail marks the device broken after the driver broke the rules: DEVICE_NEEDS_RESET is set, the driver gets a
// configuration-change interrupt, and no queue is processed until the driver resets the device.
func (e *Env) Fail(err error) {
	if !e.stopped.Load() {
		e.t.fail(err)
	}
}

// Failed reports whether the device is waiting for a reset.
func (e *Env) Failed() bool { return e.t.needsReset.Load() }

// ConfigChanged tells the driver that the device configuration changed.
func (e *Env) ConfigChanged() {
	if !e.stopped.Load() {
		e.t.configChanged()
	}
}

// Serve completes queue's available chains one at a time, while more (nil: always) allows: handle gets each chain
// in c and returns how many bytes it wrote into it. A chain the walker or handle refuses breaks the device and ends
// the work with no interrupt; otherwise the driver gets one interrupt for everything completed. Serve reports
// whether it completed anything (false after a refused chain). Call it from Process only.
func (e *Env) Serve(queue int, c *Chain, more func() bool, handle func(*Chain) (uint32, error)) bool {
	if queue < 0 || queue >= len(e.Queues) || e.Queues[queue] == nil {
		return false
	}
	q := e.Queues[queue]
	pushed := false
	for more == nil || more() {
		ok, err := q.Next(c)
		if err != nil {
			e.Fail(err)
			return false
		}
		if !ok {
			break
		}
		written, err := handle(c)
		if err != nil {
			e.Fail(err)
			return false
		}
		q.Push(c.Head, written)
		pushed = true
	}
	if pushed {
		e.Interrupt(queue)
	}
	return pushed
}
