package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"unicode/utf8"
)

// Handler answers a request from the peer (CLIP_OFFER, CLIP_REQUEST, CLIP_SET) or a refused frame (refused is
// then non-nil and f is zero; frames over the rate limit are dropped before any handler sees them). It returns the reply to send, or nil for none. Handlers run one at a time, on a
// goroutine of their own, so a slow one (a dialog) never stalls reading.
type Handler func(ctx context.Context, f Frame, refused *FrameError) *Frame

// RemoteError is an ERROR frame the peer answered with.
type RemoteError struct{ Reason string }

func (e *RemoteError) Error() string { return "peer refused: " + e.Reason }

// ErrPeerClosed is returned to requests still waiting when the connection ends.
var ErrPeerClosed = errors.New("agent connection closed")

// maxQueuedRequests bounds the peer's requests waiting for the handler; beyond it they are refused.
const maxQueuedRequests = 4

// HELLO sequence numbers: an opening HELLO is answered by the peer with its own, which is not answered.
const (
	helloOpening = 0
	helloAnswer  = 1
)

type reply struct {
	f   Frame
	err error
}

// Peer is one end of an agent connection, the same on host and guest: it announces itself with HELLO, reads
// frames, routes replies to the requests waiting for them and requests to a Handler.
type Peer struct {
	w       io.Writer
	dec     *Decoder
	hello   Hello
	handler Handler
	log     *slog.Logger

	wmu sync.Mutex // one frame written at a time

	mu        sync.Mutex
	seq       uint32
	pending   map[uint32]chan reply
	peerHello *Hello
	helloCh   chan struct{} // closed at the peer's first HELLO
	closed    error
	done      chan struct{}
	dropped   uint64
}

// NewPeer makes a connection over rw. hello.MaxBody is set from limits (what this side accepts).
func NewPeer(rw io.ReadWriter, hello Hello, limits Limits, h Handler, log *slog.Logger) *Peer {
	if log == nil {
		log = slog.Default()
	}
	dec := NewDecoder(rw, limits)
	hello.MaxBody = dec.MaxBody()
	return &Peer{w: rw, dec: dec, hello: hello, handler: h, log: log,
		pending: map[uint32]chan reply{}, helloCh: make(chan struct{}), done: make(chan struct{})}
}

// Run sends HELLO and serves the connection until the stream ends, a frame breaks it, or ctx ends (closing the
// stream is what unblocks a pending read). It returns nil on a clean end of stream.
func (p *Peer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan func(), maxQueuedRequests)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case job := <-jobs:
				job()
			}
		}
	}()
	// HELLO goes out from the worker: both ends announce themselves at once, and a transport without a buffer
	// would otherwise leave both writing.
	jobs <- func() {
		if err := p.sendHello(helloOpening); err != nil {
			p.log.Warn("agent: sending HELLO", "err", err)
		}
	}
	var err error
	for err == nil {
		var f Frame
		f, err = p.dec.Next()
		var fe *FrameError
		switch {
		case errors.As(err, &fe):
			err = nil
			if fe.Type.isReply() && p.deliver(fe.Seq, reply{err: fe}) {
				continue
			}
			if errors.Is(fe, ErrRateLimited) {
				p.drop(fe.Seq)
				continue
			}
			p.enqueue(jobs, func() { p.handle(ctx, Frame{}, fe) }, fe.Seq)
		case err != nil:
		case f.Type == TypeHello:
			h, _ := ParseHello(f.Body) // the decoder checked it
			p.mu.Lock()
			if p.peerHello == nil {
				close(p.helloCh)
			}
			p.peerHello = &h // a later HELLO announces a changed maximum
			p.mu.Unlock()
			if f.Seq == helloOpening {
				// A program that opened the port after this side said HELLO has not heard it: answer (once).
				p.enqueue(jobs, func() {
					if err := p.sendHello(helloAnswer); err != nil {
						p.log.Warn("agent: answering HELLO", "err", err)
					}
				}, f.Seq)
			}
		case f.Type.isReply():
			if !p.deliver(f.Seq, reply{f: f}) {
				p.log.Debug("agent: reply to no request", "type", f.Type, "seq", f.Seq)
			}
		default:
			p.enqueue(jobs, func() { p.handle(ctx, f, nil) }, f.Seq)
		}
	}
	cancel()
	wg.Wait()
	if errors.Is(err, io.EOF) {
		err = nil
	}
	p.mu.Lock()
	p.closed = ErrPeerClosed
	if err != nil {
		p.closed = fmt.Errorf("%w: %w", ErrPeerClosed, err)
	}
	for seq, ch := range p.pending {
		ch <- reply{err: p.closed}
		delete(p.pending, seq)
	}
	close(p.done)
	p.mu.Unlock()
	return err
}

// enqueue hands a job to the worker, or drops it when too many wait: a flooding peer gets no answer, and costs no
// more than the bounded queue (an answer could block on a peer that does not read).
func (p *Peer) enqueue(jobs chan func(), job func(), seq uint32) {
	select {
	case jobs <- job:
	default:
		p.drop(seq)
	}
}

func (p *Peer) drop(seq uint32) {
	p.mu.Lock()
	p.dropped++
	n := p.dropped
	p.mu.Unlock()
	if n&(n-1) == 0 { // 1, 2, 4, 8...: a flood makes a few log lines, not one per frame
		p.log.Warn("agent: dropping frames from the peer (busy or over the rate limit)", "dropped", n, "seq", seq)
	}
}

// Dropped counts frames dropped unanswered: over the rate limit, or with too many requests waiting.
func (p *Peer) Dropped() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

func (p *Peer) handle(ctx context.Context, f Frame, refused *FrameError) {
	var out *Frame
	if p.handler != nil {
		out = p.handler(ctx, f, refused)
	} else {
		out = &Frame{Type: TypeError, Seq: f.Seq, Body: []byte("not supported")}
	}
	if out != nil {
		if err := p.send(*out); err != nil {
			p.log.Warn("agent: sending reply", "err", err)
		}
	}
}

func (p *Peer) deliver(seq uint32, r reply) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch, ok := p.pending[seq]
	if ok {
		delete(p.pending, seq)
		ch <- r // buffered: never blocks
	}
	return ok
}

// sendMax is the largest body the peer accepts: what it announced, else what this side accepts.
func (p *Peer) sendMax() uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.peerHello != nil {
		return min(p.peerHello.MaxBody, CeilingBody)
	}
	return p.dec.MaxBody()
}

// MaxSend is the largest body that may be sent now.
func (p *Peer) MaxSend() uint32 { return p.sendMax() }

func (p *Peer) send(f Frame) error {
	max := p.sendMax()
	p.wmu.Lock()
	defer p.wmu.Unlock()
	return WriteFrame(p.w, f, max)
}

// PeerHello waits for the peer's HELLO.
func (p *Peer) PeerHello(ctx context.Context) (Hello, error) {
	select {
	case <-p.helloCh:
		p.mu.Lock()
		defer p.mu.Unlock()
		return *p.peerHello, nil
	case <-p.done:
		return Hello{}, ErrPeerClosed
	case <-ctx.Done():
		return Hello{}, ctx.Err()
	}
}

// Request sends a request and waits for its reply. An ERROR reply is returned as a *RemoteError, a refused reply
// as its *FrameError. Note that a write blocks while the transport is full and cannot be cancelled by ctx.
func (p *Peer) Request(ctx context.Context, typ Type, body []byte) (Frame, error) {
	ch := make(chan reply, 1)
	p.mu.Lock()
	if p.closed != nil {
		err := p.closed
		p.mu.Unlock()
		return Frame{}, err
	}
	p.seq++
	seq := p.seq
	p.pending[seq] = ch
	p.mu.Unlock()
	forget := func() {
		p.mu.Lock()
		delete(p.pending, seq)
		p.mu.Unlock()
	}
	if err := p.send(Frame{Type: typ, Seq: seq, Body: body}); err != nil {
		forget()
		return Frame{}, err
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return Frame{}, r.err
		}
		if r.f.Type == TypeError {
			return Frame{}, &RemoteError{Reason: string(r.f.Body)}
		}
		return r.f, nil
	case <-ctx.Done():
		forget()
		return Frame{}, ctx.Err()
	}
}

// SetMaxBody changes the largest body this side accepts and announces it to the peer with a new HELLO.
func (p *Peer) SetMaxBody(n uint32) error {
	p.mu.Lock()
	p.dec.SetMaxBody(n)
	p.hello.MaxBody = p.dec.MaxBody()
	p.mu.Unlock()
	return p.sendHello(helloAnswer)
}

// sendHello announces this side as it is when written, so that the last HELLO the peer reads is the latest.
func (p *Peer) sendHello(seq uint32) error {
	max := p.sendMax()
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.mu.Lock()
	h := p.hello
	p.mu.Unlock()
	return WriteFrame(p.w, Frame{Type: TypeHello, Seq: seq, Body: h.Marshal()}, max)
}

// Done is closed when Run has returned.
func (p *Peer) Done() <-chan struct{} { return p.done }

// ErrorReply builds an ERROR answering seq, its reason cut to MaxReason bytes on a rune boundary.
func ErrorReply(seq uint32, reason string) *Frame {
	b := []byte(reason)
	if len(b) > MaxReason {
		b = b[:MaxReason]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
	}
	return &Frame{Type: TypeError, Seq: seq, Body: b}
}
