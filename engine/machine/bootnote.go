package machine

import (
	"strings"
	"sync"
)

// bootWatch follows the firmware's account of its boot attempts (its debug log) so that a machine with nothing
// bootable can say so in its status, not only on a screen nobody may be looking at.
type bootWatch struct {
	mu       sync.Mutex
	device   string   // what the firmware is trying now ("Hard Disk", "DVD/CD")
	failures []string // this round's failed attempts, "DVD/CD: Could not read from CDROM (code 0003)"
	note     string   // the last round's outcome when nothing booted; "" once something did
}

// maxBootFailures bounds what a firmware that never stops failing can make the machine keep.
const maxBootFailures = 16

func (w *bootWatch) line(l string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case strings.HasPrefix(l, "Booting from "):
		what := strings.TrimSuffix(strings.TrimPrefix(l, "Booting from "), "...")
		if len(what) == 9 && what[4] == ':' { // "0000:7c00": a boot sector got control
			w.note, w.failures = "", nil
			return
		}
		w.device = what
	case strings.HasPrefix(l, "Boot failed: "):
		if len(w.failures) < maxBootFailures {
			w.failures = append(w.failures, w.device+": "+strings.TrimPrefix(l, "Boot failed: "))
		}
	case strings.HasPrefix(l, "No bootable device"):
		w.note = "no bootable device"
		if len(w.failures) > 0 {
			w.note += " (" + strings.Join(w.failures, "; ") + ")"
		}
		w.failures = nil
	}
}

func (w *bootWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.note
}
