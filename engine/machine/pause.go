package machine

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"paddock/engine/control"
)

// Pausing holds every vCPU outside the guest until the VM is resumed; devices and the control socket carry on.
// A vCPU parks at the top of its loop, so a paused guest runs no instruction and costs no CPU.

// errPaused refuses what a paused guest cannot do.
var errPaused = errors.New("the VM is paused: resume it first")

// pauseTimeout bounds how long Pause waits for every vCPU to leave the guest.
const pauseTimeout = 5 * time.Second

// pauseGate is the machine's paused flag and the vCPUs parked by it.
type pauseGate struct {
	mu     sync.Mutex
	resume chan struct{} // closed on resume; nil while running
	parked int
	// The guest's kvmclock when it was paused, restored on resume so the pause does not show as time gone by.
	clock     uint64
	haveClock bool
}

// enter parks the calling vCPU while the VM is paused; it reports whether it parked.
func (g *pauseGate) enter() (wake <-chan struct{}, paused bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.resume == nil {
		return nil, false
	}
	g.parked++
	return g.resume, true
}

func (g *pauseGate) leave() {
	g.mu.Lock()
	g.parked--
	g.mu.Unlock()
}

// holdIfPaused keeps the vCPU out of the guest while the VM is paused, until it resumes or the boot ends.
func (b *boot) holdIfPaused() {
	wake, paused := b.m.pause.enter()
	if !paused {
		return
	}
	defer b.m.pause.leave()
	for !b.stopping.Load() {
		select {
		case <-wake:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Pause stops the guest's vCPUs; it returns once none runs guest code.
func (m *Machine) Pause() error {
	m.mu.Lock()
	b := m.cur
	if b == nil {
		m.mu.Unlock()
		return errNotRunning
	}
	m.pause.mu.Lock()
	if m.pause.resume == nil {
		m.pause.resume = make(chan struct{})
	}
	m.pause.mu.Unlock()
	m.state = control.StatePaused
	m.mu.Unlock()
	for _, t := range b.vcpus {
		t.kick()
	}
	deadline := time.Now().Add(pauseTimeout)
	for {
		m.pause.mu.Lock()
		parked := m.pause.parked
		m.pause.mu.Unlock()
		if parked >= len(b.vcpus) || b.stopping.Load() {
			m.holdClock()
			return nil
		}
		if time.Now().After(deadline) {
			_ = m.Resume()
			return fmt.Errorf("pause: %d of %d vCPUs left the guest within %v", parked, len(b.vcpus), pauseTimeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// holdClock notes the guest's clock as the pause begins.
func (m *Machine) holdClock() {
	_ = m.withBoot(func(b *boot) error {
		ns, err := b.vm.Clock()
		m.pause.mu.Lock()
		m.pause.clock, m.pause.haveClock = ns, err == nil
		m.pause.mu.Unlock()
		return nil
	})
}

// releaseClock sets the guest's clock back to where the pause found it and tells each vCPU it was stopped. Only
// a failure to set the clock is worth a log line: a guest without kvmclock refuses the notice.
func (m *Machine) releaseClock() {
	m.pause.mu.Lock()
	ns, ok := m.pause.clock, m.pause.haveClock
	m.pause.haveClock = false
	m.pause.mu.Unlock()
	if !ok {
		return
	}
	_ = m.withBoot(func(b *boot) error {
		if err := b.vm.SetClock(ns); err != nil {
			m.log.Warn("resume: the guest's clock was not held", "err", err)
		}
		for _, t := range b.vcpus {
			_ = t.cpu.MarkPaused()
		}
		return nil
	})
}

// Resume lets a paused guest run again.
func (m *Machine) Resume() error {
	m.mu.Lock()
	paused := m.paused()
	m.mu.Unlock()
	if paused {
		m.releaseClock()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pause.mu.Lock()
	defer m.pause.mu.Unlock()
	if m.pause.resume == nil {
		return errors.New("the VM is not paused")
	}
	close(m.pause.resume)
	m.pause.resume = nil
	if m.state == control.StatePaused {
		m.state = control.StateRunning
	}
	return nil
}

// paused says whether the VM is paused. The caller holds m.mu.
func (m *Machine) paused() bool {
	m.pause.mu.Lock()
	defer m.pause.mu.Unlock()
	return m.pause.resume != nil
}
