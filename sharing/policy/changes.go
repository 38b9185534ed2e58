package policy

import (
	"fmt"
	"strconv"

	"paddock/library"
)

// Changes to what a VM shares are audited next to the crossings they govern, so the log tells when a channel was
// opened and closed, whichever way (window or command) the user changed it.

// Audit channels besides the clipboard, and the decisions of sharing changes.
const (
	ChannelFolder     = "folder"
	ChannelKeystrokes = "keystrokes" // host clipboard typed into the guest as keys

	DecisionGranted = "granted"
	DecisionRevoked = "revoked"
)

// DirectionWords words an audit direction for people.
func DirectionWords(dir string) string {
	switch dir {
	case string(HostToGuest):
		return "host → guest"
	case string(GuestToHost):
		return "guest → host"
	case string(library.ClipboardBoth):
		return "both ways"
	}
	return dir
}

// SizeWords writes a byte count as a person reads it: "512 B", "4 KiB", "1 MiB", "1.5 MiB".
func SizeWords(n int64) string {
	units := []struct {
		shift uint
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}}
	for _, u := range units {
		if n >= 1<<u.shift {
			if n%(1<<u.shift) == 0 {
				return fmt.Sprintf("%d %s", n>>u.shift, u.name)
			}
			return strconv.FormatFloat(float64(n)/float64(int64(1)<<u.shift), 'f', 1, 64) + " " + u.name
		}
	}
	return fmt.Sprintf("%d B", n)
}

// ClipboardWords says what a clipboard policy lets through: "both ways, up to 1 MiB, asking each time".
func ClipboardWords(p library.SharePolicy) string {
	if p.Clipboard == library.ClipboardOff || p.Clipboard == "" {
		return "off"
	}
	ask := "without asking"
	if p.ClipboardAsk {
		ask = "asking each time"
	}
	return fmt.Sprintf("%s, up to %s, %s", DirectionWords(string(p.Clipboard)), SizeWords(p.ClipboardMaxBytes), ask)
}

// ClipboardChange is the audit entry for a VM's clipboard policy going from old to p; there is none while the
// clipboard stays off.
func ClipboardChange(vm library.VM, old, p library.SharePolicy) (library.AuditEntry, bool) {
	off := func(q library.SharePolicy) bool { return q.Clipboard == library.ClipboardOff || q.Clipboard == "" }
	if off(old) && off(p) || old == p {
		return library.AuditEntry{}, false
	}
	e := library.AuditEntry{VMID: vm.ID, VMName: vm.Name, Channel: ChannelClipboard, Direction: string(p.Clipboard),
		Rule: "settings changed: " + ClipboardWords(p), Decision: DecisionGranted}
	if off(p) {
		e.Direction, e.Decision = string(old.Clipboard), DecisionRevoked
	}
	return e, true
}

// ShareChange is the audit entry for a folder share granted to a VM, or revoked.
func ShareChange(vm library.VM, s library.Share, granted bool) library.AuditEntry {
	dir, access := string(HostToGuest), "read-only"
	if !s.ReadOnly {
		dir, access = string(library.ClipboardBoth), "read-write"
	}
	if s.Transient {
		access += ", until power-off"
	}
	verb, decision := "added", DecisionGranted
	if !granted {
		verb, decision = "removed", DecisionRevoked
	}
	return library.AuditEntry{VMID: vm.ID, VMName: vm.Name, Channel: ChannelFolder, Direction: dir,
		Rule: fmt.Sprintf("share %q %s: %s (%s)", s.Tag, verb, s.HostDir, access), Decision: decision}
}
