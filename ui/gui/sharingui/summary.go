// Package sharingui holds the sharing widgets the GUI's windows share: the "sharing on" badge, the audit log view,
// the dialog that asks before clipboard text crosses, and the host clipboard as the clipboard bridge sees it.
package sharingui

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"paddock/library"
	"paddock/sharing/policy"
)

// Audit words for sharing changes and typed text (sharing/policy has them, for the command line too).
const (
	ChannelKeystrokes = policy.ChannelKeystrokes
	ChannelFolder     = policy.ChannelFolder
	ChannelClipboard  = policy.ChannelClipboard

	DecisionGranted = policy.DecisionGranted
	DecisionRevoked = policy.DecisionRevoked
)

// Summary words what a VM shares, for the badge: "Sharing: clipboard ↔, 2 folders". It is "" when every channel
// is off.
func Summary(p library.SharePolicy, shares []library.Share) string {
	var parts []string
	if arrow := ClipboardArrow(p.Clipboard); arrow != "" {
		parts = append(parts, "clipboard "+arrow)
	}
	switch n := len(shares); n {
	case 0:
	case 1:
		parts = append(parts, "1 folder")
	default:
		parts = append(parts, fmt.Sprintf("%d folders", n))
	}
	if len(parts) == 0 {
		return ""
	}
	return "Sharing: " + strings.Join(parts, ", ")
}

// ClipboardArrow is the direction of a clipboard mode as an arrow (host on the left, guest on the right), or ""
// when the clipboard is off.
func ClipboardArrow(m library.ClipboardMode) string {
	switch m {
	case library.ClipboardHostToGuest:
		return "→"
	case library.ClipboardGuestToHost:
		return "←"
	case library.ClipboardBoth:
		return "↔"
	}
	return ""
}

// DirectionText words an audit direction for people.
func DirectionText(dir string) string { return policy.DirectionWords(dir) }

// FormatSize writes a byte count as a person reads it: "512 B", "4 KiB", "1 MiB", "1.5 MiB".
func FormatSize(n int64) string { return policy.SizeWords(n) }

// ParseSize reads a size as FormatSize writes it, or a plain number of bytes; K, KB, M, MB are taken as binary
// units too.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return 0, fmt.Errorf("enter a size such as 1 MiB or 64 KiB")
	}
	end := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if end < 0 {
		end = len(t)
	}
	num, unit := t[:end], strings.TrimSpace(t[end:])
	var shift uint
	switch unit {
	case "", "b", "byte", "bytes":
	case "k", "kb", "kib":
		shift = 10
	case "m", "mb", "mib":
		shift = 20
	case "g", "gb", "gib":
		shift = 30
	default:
		return 0, fmt.Errorf("%q: the unit should be B, KiB or MiB", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || v > 1<<40 {
		return 0, fmt.Errorf("%q is not a size: enter one such as 1 MiB or 64 KiB", s)
	}
	return int64(v * float64(int64(1)<<shift)), nil
}

// ShortHash shortens a SHA-256 for a table column; the whole digest is shown when the row is chosen.
func ShortHash(h string) string {
	if len(h) <= 12 {
		return h
	}
	return h[:12] + "…"
}

// TypedAudit is the audit entry for host clipboard text typed into a VM as keystrokes (typed), or refused for
// why: its size and digest, never the text.
func TypedAudit(vmID, vmName, text string, typed bool, why string) library.AuditEntry {
	sum := sha256.Sum256([]byte(text))
	e := library.AuditEntry{
		Time: time.Now(), VMID: vmID, VMName: vmName, Channel: ChannelKeystrokes, Direction: "host-to-guest",
		Bytes: int64(len(text)), SHA256: hex.EncodeToString(sum[:]), Rule: "typed on request",
		Decision: library.DecisionAllowed,
	}
	if text == "" {
		e.SHA256 = ""
	}
	if !typed {
		e.Rule, e.Decision = truncate(why, 1024), library.DecisionDenied
	}
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary, so the library's UTF-8 check holds.
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
