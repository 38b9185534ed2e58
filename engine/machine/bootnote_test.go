package machine

import (
	"fmt"
	"strings"
	"testing"
)

func TestBootWatch(t *testing.T) {
	var w bootWatch
	for _, l := range []string{"SeaBIOS (version 1.16.2)", "Booting from Hard Disk...", "Boot failed: not a bootable disk",
		"Booting from DVD/CD...", "Boot failed: Could not read from CDROM (code 0003)"} {
		w.line(l)
	}
	if got := w.String(); got != "" {
		t.Errorf("before the firmware gave up: %q", got)
	}
	w.line("No bootable device.  Retrying in 5 seconds.")
	want := "no bootable device (Hard Disk: not a bootable disk; DVD/CD: Could not read from CDROM (code 0003))"
	if got := w.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// The next round keeps the note until something boots.
	w.line("Booting from DVD/CD...")
	if w.String() != want {
		t.Error("the note went before anything booted")
	}
	w.line("Booting from 0000:7c00")
	if got := w.String(); got != "" {
		t.Errorf("after a boot sector got control: %q", got)
	}
	// A firmware that never stops failing cannot make the note grow without end.
	for i := range 1000 {
		w.line(fmt.Sprintf("Boot failed: attempt %d", i))
	}
	w.line("No bootable device.")
	if n := strings.Count(w.String(), "attempt"); n != maxBootFailures {
		t.Errorf("%d failures kept, want %d", n, maxBootFailures)
	}
}
