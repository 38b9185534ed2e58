// Package irqtest gives device tests an interrupt line that records every level the device drives.
package irqtest

import "sync"

// Line is an irq.Line that remembers each Set. Safe for concurrent use.
type Line struct {
	mu     sync.Mutex
	levels []bool
}

// Set records a level.
func (l *Line) Set(high bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.levels = append(l.levels, high)
}

// High says whether the line is high now (it starts low).
func (l *Line) High() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.levels) > 0 && l.levels[len(l.levels)-1]
}

// EverHigh says whether the line was ever raised.
func (l *Line) EverHigh() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range l.levels {
		if v {
			return true
		}
	}
	return false
}

// Rises counts rising edges: the interrupts an edge-triggered controller would see.
func (l *Line) Rises() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, prev := 0, false
	for _, v := range l.levels {
		if v && !prev {
			n++
		}
		prev = v
	}
	return n
}
