// Package rng is the virtio entropy device: every buffer the driver offers is filled from crypto/rand.
package rng

import (
	"crypto/rand"

	"paddock/engine/virtio"
)

const (
	queueSize = 64
	// maxPerRequest bounds the work one request can ask for; Linux asks for at most a page or so.
	maxPerRequest = 64 << 10
)

// Device is a virtio-rng device.
type Device struct {
	env   *virtio.Env
	chain virtio.Chain
}

var _ virtio.Device = (*Device)(nil)

// New makes a virtio-rng device.
func New() *Device { return &Device{} }

func (d *Device) Type() uint16                   { return virtio.TypeRNG }
func (d *Device) Features() uint64               { return 0 }
func (d *Device) QueueSizes() []uint16           { return []uint16{queueSize} }
func (d *Device) ConfigSize() int                { return 0 }
func (d *Device) ReadConfig(uint32, []byte)      {}
func (d *Device) WriteConfig(uint32, []byte)     {}
func (d *Device) Activate(env *virtio.Env) error { d.env = env; return nil }
func (d *Device) Reset()                         { d.env = nil }
func (d *Device) Close() error                   { return nil }

// Process fills each available buffer with random bytes.
func (d *Device) Process(queue int) {
	env := d.env
	if env == nil || queue != 0 || env.Queues[0] == nil {
		return
	}
	env.Serve(0, &d.chain, nil, func(c *virtio.Chain) (uint32, error) {
		var written uint32
		for _, b := range c.Writable {
			if room := maxPerRequest - int(written); len(b) > room {
				b = b[:room]
			}
			// crypto/rand.Read never fails on Linux.
			_, _ = rand.Read(b)
			written += uint32(len(b))
			if written >= maxPerRequest {
				break
			}
		}
		return written, nil
	})
}
