// Package virtio implements virtio 1.x devices for the guest: the split virtqueue with a validating descriptor
// chain walker, and the modern virtio-over-PCI transport with MSI-X. The devices themselves live in subpackages:
//
//   - virtio/blk: a block device over a raw image file (read-only option, flush, GET_ID serial).
//   - virtio/rng: an entropy source backed by crypto/rand.
//   - virtio/console: a multiport console; port 0 is the guest's hvc0, further named ports (for example
//     "org.paddock.agent.0") each have a host-side io.ReadWriteCloser.
//   - virtio/input: a tablet (absolute pointer, buttons, wheel) and a keyboard.
//   - virtio/scsi: a SCSI host with one CD-ROM backed by an ISO image (insert, eject, media change).
//   - virtio/virtiotest: a Go driver that enumerates PCI and drives a device exactly as a guest does, for tests.
//
// Wiring a device into a machine:
//
//	root := pci.NewRoot(mmioBus, logger)             // host bridge at 00:00.0
//	portBus.Register(x86.PortPCIConfig, 8, root.ConfigPorts())
//	disk, err := blk.Open("/path/disk.img", blk.Options{ReadOnly: false, Serial: "paddock0"})
//	fn, err := virtio.NewPCI(disk, guestMemory, msiSender, logger)  // msiSender: the VM (KVM_SIGNAL_MSI)
//	err = root.Add(fn)                                // places its BARs in x86.PCIMMIOStart..PCIMMIOEnd
//	...
//	root.Close()                                      // every function: stop its worker, close its backend
//
// The other devices: rng.New(), and console.New(console.Options{Output: serialLog, Ports: []string{
// "org.paddock.agent.0"}}) whose Console() port takes typed input and whose Port(name) is the host's end of a
// named port (io.ReadWriteCloser, with GuestConnected and WaitGuestConnected).
//
// Every function has one 64-bit memory BAR (BAR 4) holding the common, ISR, device and notify structures and the
// MSI-X table and PBA. Interrupts are MSI-X only (interrupt pin 0), delivered through irq.MSISender. Queue work runs
// on one worker goroutine per device, started when the driver sets DRIVER_OK and stopped on device reset or Close;
// a notify write from a vCPU only sets a bit and wakes that worker.
//
// Everything the guest places in a queue is validated before use. A chain that breaks the rules (out-of-RAM
// buffers, loops, chains longer than the queue, bad indirect tables, an avail index that jumps too far) makes the
// device set DEVICE_NEEDS_RESET, raise a configuration-change interrupt and stop processing until the driver
// resets it.
package virtio
