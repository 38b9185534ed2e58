package serial

import (
	"io"
	"log/slog"
	"sync"
)

// outputPump hands transmitted bytes to a writer on its own goroutine, so the vCPU that wrote THR never waits
// for the writer. When the writer falls more than limit bytes behind, new bytes are dropped and counted.
type outputPump struct {
	w     io.Writer
	log   *slog.Logger
	limit int
	wake  chan struct{}
	done  chan struct{}

	mu      sync.Mutex
	buf     []byte
	closed  bool
	dropped uint64
}

func newOutputPump(w io.Writer, limit int, log *slog.Logger) *outputPump {
	p := &outputPump{
		w:     w,
		log:   log,
		limit: limit,
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	go p.run()
	return p
}

func (p *outputPump) put(b byte) {
	p.mu.Lock()
	if p.closed || len(p.buf) >= p.limit {
		p.dropped++
		p.mu.Unlock()
		return
	}
	p.buf = append(p.buf, b)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *outputPump) droppedCount() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

func (p *outputPump) run() {
	defer close(p.done)
	var spare []byte
	reported := false
	for {
		p.mu.Lock()
		chunk := p.buf
		closed := p.closed
		p.buf = spare[:0]
		p.mu.Unlock()
		if len(chunk) > 0 {
			if _, err := p.w.Write(chunk); err != nil && !reported {
				// Keep going: a writer that fails once (a detached client) may work again.
				p.log.Warn("serial output write failed", "err", err)
				reported = true
			}
			spare = chunk
			continue
		}
		spare = chunk
		if closed {
			return
		}
		<-p.wake
	}
}

// close stops accepting bytes, waits until everything queued has been written, and stops the goroutine.
func (p *outputPump) close() error {
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	if !already {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	<-p.done
	return nil
}
