package vmwindow

import (
	"log/slog"
	"sync"

	"paddock/display"
)

// maxQueuedInput bounds the input waiting for a console that has stopped answering. Pointer moves are merged, so
// only a wedged console reaches it; past it new input is dropped rather than growing without end.
const maxQueuedInput = 4096

// inputEvent is one key or pointer event on its way to the console.
type inputEvent struct {
	isKey   bool
	key     display.KeyEvent
	pointer display.PointerState
	move    bool // a pointer event that only moves: it may merge with the next move
}

// inputQueue hands input to the console from its own goroutine, in order, so a slow console (a control socket to
// another process) never stalls the UI goroutine.
type inputQueue struct {
	console display.Console

	mu      sync.Mutex
	cond    *sync.Cond
	events  []inputEvent
	busy    bool // an event has been taken and is being sent
	closed  bool
	failing bool // the last send failed: log the next failure quietly
	dropped bool
}

func newInputQueue(c display.Console) *inputQueue {
	q := &inputQueue{console: c}
	q.cond = sync.NewCond(&q.mu)
	go q.run()
	return q
}

// push queues an event. Consecutive pointer moves merge into the latest one; presses, releases and wheel steps
// keep their place and position.
func (q *inputQueue) push(ev inputEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if n := len(q.events); n > 0 && ev.move && q.events[n-1].move {
		q.events[n-1].pointer = ev.pointer
		return
	}
	if len(q.events) >= maxQueuedInput {
		if !q.dropped {
			slog.Warn("vm console is not taking input; dropping input events")
			q.dropped = true
		}
		return
	}
	q.events = append(q.events, ev)
	q.cond.Broadcast()
}

// close lets the queue drain what it holds and then stops its goroutine.
func (q *inputQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// flush waits until every queued event has been handed to the console.
func (q *inputQueue) flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.events) > 0 || q.busy {
		q.cond.Wait()
	}
}

func (q *inputQueue) run() {
	for {
		q.mu.Lock()
		for len(q.events) == 0 && !q.closed {
			q.cond.Wait()
		}
		if len(q.events) == 0 {
			q.mu.Unlock()
			return
		}
		ev := q.events[0]
		q.events = q.events[1:]
		q.busy = true
		q.mu.Unlock()

		var err error
		if ev.isKey {
			err = q.console.Key(ev.key.Key, ev.key.Down)
		} else {
			err = q.console.Pointer(ev.pointer)
		}

		q.mu.Lock()
		q.busy = false
		switch {
		case err != nil && !q.failing:
			slog.Warn("send input to vm", "err", err)
			q.failing = true
		case err != nil:
			slog.Debug("send input to vm", "err", err)
		default:
			q.failing, q.dropped = false, false
		}
		q.cond.Broadcast()
		q.mu.Unlock()
	}
}
