// Package policy decides whether content may cross a sharing channel, and describes each crossing for the audit
// log. It does no I/O of its own: the caller supplies the policy, the content and a way to ask the user.
package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
	"unicode/utf8"

	"paddock/library"
)

// Direction is which way content crosses.
type Direction string

const (
	HostToGuest Direction = "host-to-guest"
	GuestToHost Direction = "guest-to-host"
)

// ChannelClipboard is the audit channel of clipboard crossings.
const ChannelClipboard = "clipboard"

// Rules: which check decided.
const (
	RuleModeOff         = "mode off"
	RuleDirection       = "direction not allowed"
	RuleOverSize        = "over the size cap"
	RuleNotText         = "not UTF-8 text"
	RuleUserDenied      = "user denied"
	RuleUserAllowed     = "user allowed"
	RuleAskFailed       = "could not ask the user"
	RuleAllowedByPolicy = "allowed by policy"
)

// DefaultMaxBytes is the size cap when a policy has none.
const DefaultMaxBytes = 1 << 20

// Decision is the outcome of Decide.
type Decision struct {
	Allowed bool
	Rule    string
}

// String is the audit log's decision word.
func (d Decision) String() string {
	if d.Allowed {
		return library.DecisionAllowed
	}
	return library.DecisionDenied
}

// AskFunc asks the user whether n bytes may cross in dir; it returns the answer, or an error if nobody could be
// asked (which denies).
type AskFunc func(dir Direction, n int) (bool, error)

// Permits reports the rule that refuses dir under p whatever the content, or "" if dir may be used at all. It lets
// a caller refuse before fetching the content.
func Permits(p library.SharePolicy, dir Direction) string {
	switch p.Clipboard {
	case library.ClipboardBoth:
		return ""
	case library.ClipboardHostToGuest:
		if dir == HostToGuest {
			return ""
		}
		return RuleDirection
	case library.ClipboardGuestToHost:
		if dir == GuestToHost {
			return ""
		}
		return RuleDirection
	}
	return RuleModeOff // "off", and anything unknown, is off
}

// Decide says whether content may cross the clipboard in dir under p. The checks run in this order: mode,
// direction, size cap, UTF-8, then the user when p asks for confirmation. ask is only called when everything
// else allows; a nil ask with ClipboardAsk set denies.
func Decide(p library.SharePolicy, dir Direction, content []byte, ask AskFunc) Decision {
	if rule := Permits(p, dir); rule != "" {
		return Decision{Rule: rule}
	}
	limit := p.ClipboardMaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	if int64(len(content)) > limit {
		return Decision{Rule: RuleOverSize}
	}
	if !utf8.Valid(content) {
		return Decision{Rule: RuleNotText}
	}
	if !p.ClipboardAsk {
		return Decision{Allowed: true, Rule: RuleAllowedByPolicy}
	}
	if ask == nil {
		return Decision{Rule: RuleAskFailed}
	}
	ok, err := ask(dir, len(content))
	switch {
	case err != nil:
		return Decision{Rule: RuleAskFailed}
	case ok:
		return Decision{Allowed: true, Rule: RuleUserAllowed}
	}
	return Decision{Rule: RuleUserDenied}
}

// Crossing describes one attempted crossing for the audit log.
type Crossing struct {
	Time      time.Time
	VMID      string
	VMName    string
	Direction Direction
	// Bytes is the content's size; when Content is nil (it was never read) it is the size claimed.
	Bytes   int64
	Content []byte // digested, never stored; nil when nothing was read
	Decision
}

// AuditEntry builds the clipboard audit entry for c: the SHA-256 of the content, never the content.
func (c Crossing) AuditEntry() library.AuditEntry {
	e := library.AuditEntry{
		Time: c.Time, VMID: c.VMID, VMName: c.VMName, Channel: ChannelClipboard, Direction: string(c.Direction),
		Bytes: c.Bytes, Rule: c.Rule, Decision: c.Decision.String(),
	}
	if c.Content != nil {
		sum := sha256.Sum256(c.Content)
		e.SHA256 = hex.EncodeToString(sum[:])
		e.Bytes = int64(len(c.Content))
	}
	return e
}
