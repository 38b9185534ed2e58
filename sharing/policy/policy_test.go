package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"paddock/library"
)

func TestDecide(t *testing.T) {
	both := library.SharePolicy{Clipboard: library.ClipboardBoth, ClipboardMaxBytes: 5}
	ask := func(b bool, err error) AskFunc { return func(Direction, int) (bool, error) { return b, err } }
	asking := both
	asking.ClipboardAsk = true
	cases := []struct {
		name    string
		p       library.SharePolicy
		dir     Direction
		content string
		ask     AskFunc
		want    Decision
	}{
		{"zero policy is off", library.SharePolicy{}, HostToGuest, "a", nil, Decision{Rule: RuleModeOff}},
		{"off", library.SharePolicy{Clipboard: library.ClipboardOff, ClipboardMaxBytes: 5}, GuestToHost, "a", nil, Decision{Rule: RuleModeOff}},
		{"unknown mode is off", library.SharePolicy{Clipboard: "sideways"}, GuestToHost, "a", nil, Decision{Rule: RuleModeOff}},
		{"h2g allows h2g", library.SharePolicy{Clipboard: library.ClipboardHostToGuest}, HostToGuest, "a", nil, Decision{true, RuleAllowedByPolicy}},
		{"h2g refuses g2h", library.SharePolicy{Clipboard: library.ClipboardHostToGuest}, GuestToHost, "a", nil, Decision{Rule: RuleDirection}},
		{"g2h allows g2h", library.SharePolicy{Clipboard: library.ClipboardGuestToHost}, GuestToHost, "a", nil, Decision{true, RuleAllowedByPolicy}},
		{"g2h refuses h2g", library.SharePolicy{Clipboard: library.ClipboardGuestToHost}, HostToGuest, "a", nil, Decision{Rule: RuleDirection}},
		{"at the cap", both, HostToGuest, "12345", nil, Decision{true, RuleAllowedByPolicy}},
		{"over the cap", both, HostToGuest, "123456", nil, Decision{Rule: RuleOverSize}},
		{"no cap means 1 MiB", library.SharePolicy{Clipboard: library.ClipboardBoth}, HostToGuest, string(make([]byte, 1<<20+1)), nil, Decision{Rule: RuleOverSize}},
		{"not UTF-8", both, GuestToHost, "\xff", nil, Decision{Rule: RuleNotText}},
		{"user allows", asking, GuestToHost, "ok", ask(true, nil), Decision{true, RuleUserAllowed}},
		{"user denies", asking, GuestToHost, "ok", ask(false, nil), Decision{Rule: RuleUserDenied}},
		{"nobody to ask", asking, GuestToHost, "ok", ask(true, errors.New("no display")), Decision{Rule: RuleAskFailed}},
		{"no ask callback", asking, GuestToHost, "ok", nil, Decision{Rule: RuleAskFailed}},
		{"size is checked before asking", asking, GuestToHost, "too long", func(Direction, int) (bool, error) {
			t.Fatal("asked about content over the cap")
			return true, nil
		}, Decision{Rule: RuleOverSize}},
	}
	for _, c := range cases {
		if got := Decide(c.p, c.dir, []byte(c.content), c.ask); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestAuditEntryDigestsNeverStores(t *testing.T) {
	c := Crossing{VMID: "v", Direction: GuestToHost, Content: []byte("secret"), Decision: Decision{Rule: RuleUserDenied}}
	e := c.AuditEntry()
	sum := sha256.Sum256([]byte("secret"))
	if e.SHA256 != hex.EncodeToString(sum[:]) || e.Bytes != 6 || e.Decision != library.DecisionDenied ||
		e.Channel != "clipboard" || e.Direction != "guest-to-host" || e.Rule != RuleUserDenied {
		t.Fatalf("%+v", e)
	}
	if e2 := (Crossing{Bytes: 9, Decision: Decision{Allowed: true}}).AuditEntry(); e2.SHA256 != "" || e2.Bytes != 9 || e2.Decision != library.DecisionAllowed {
		t.Fatalf("%+v", e2)
	}
}
