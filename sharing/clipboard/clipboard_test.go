package clipboard_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"paddock/library"
	"paddock/sharing/agent"
	"paddock/sharing/clipboard"
	"paddock/sharing/policy"
)

const wait = 5 * time.Second

type memAuditor struct {
	mu      sync.Mutex
	entries []library.AuditEntry
}

func (a *memAuditor) AppendAudit(_ context.Context, e library.AuditEntry) (library.AuditEntry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e.ID = int64(len(a.entries) + 1)
	a.entries = append(a.entries, e)
	return e, nil
}

func (a *memAuditor) all() []library.AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]library.AuditEntry(nil), a.entries...)
}

type hostClip struct {
	mu   sync.Mutex
	text string
}

func (h *hostClip) Read() (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.text, nil
}

func (h *hostClip) Write(s string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.text = s
	return nil
}

type asker struct {
	answer bool
	mu     sync.Mutex
	asked  []clipboard.AskRequest
}

func (a *asker) AskClipboard(_ context.Context, r clipboard.AskRequest) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, r)
	return a.answer, nil
}

type rig struct {
	t      *testing.T
	bridge *clipboard.Bridge
	audit  *memAuditor
	host   *hostClip
	asker  *asker
	guest  net.Conn // the guest's end of the agent port
	store  *agent.MemoryStore
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newRig connects a bridge to the guest end of a pipe. With daemon, paddock-agent's daemon serves that end.
func newRig(t *testing.T, p library.SharePolicy, daemon bool, auditor clipboard.Auditor) *rig {
	t.Helper()
	hostEnd, guestEnd := net.Pipe()
	r := &rig{t: t, audit: &memAuditor{}, host: &hostClip{}, asker: &asker{}, guest: guestEnd, store: &agent.MemoryStore{}}
	if auditor == nil {
		auditor = r.audit
	}
	b, err := clipboard.New(hostEnd, clipboard.Config{VMID: "vm-1", VMName: "debian", Policy: p, Host: r.host,
		Asker: r.asker, Auditor: auditor, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	r.bridge = b
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.Run(ctx) }() //nolint:errcheck
	if daemon {
		wg.Add(1)
		go func() { defer wg.Done(); agent.Daemon(ctx, guestEnd, r.store, quiet()) }() //nolint:errcheck
	}
	t.Cleanup(func() {
		cancel()
		hostEnd.Close()
		guestEnd.Close()
		wg.Wait()
	})
	return r
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return c
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// checkAudit asserts the last entry.
func (r *rig) checkAudit(n int, dir policy.Direction, content string, rule, decision string) {
	r.t.Helper()
	entries := r.audit.all()
	if len(entries) != n {
		r.t.Fatalf("%d audit entries, want %d: %+v", len(entries), n, entries)
	}
	e := entries[n-1]
	want := library.AuditEntry{ID: e.ID, Time: e.Time, VMID: "vm-1", VMName: "debian", Channel: "clipboard",
		Direction: string(dir), Bytes: int64(len(content)), SHA256: digest(content), Rule: rule, Decision: decision}
	if content == "" {
		want.SHA256 = ""
	}
	if e != want {
		r.t.Fatalf("audit entry\n got %+v\nwant %+v", e, want)
	}
	if e.Time.IsZero() || time.Since(e.Time) > time.Minute {
		r.t.Fatalf("audit time %v", e.Time)
	}
}

func pol(mode library.ClipboardMode) library.SharePolicy {
	return library.SharePolicy{Clipboard: mode, ClipboardMaxBytes: 1 << 20}
}

func wantDenied(t *testing.T, err error, rule string) {
	t.Helper()
	var de *clipboard.DeniedError
	if !errors.As(err, &de) || de.Rule != rule {
		t.Fatalf("got %v, want denied by %q", err, rule)
	}
}

func TestModes(t *testing.T) {
	for _, c := range []struct {
		mode            library.ClipboardMode
		toGuest, toHost bool
	}{
		{library.ClipboardOff, false, false},
		{library.ClipboardHostToGuest, true, false},
		{library.ClipboardGuestToHost, false, true},
		{library.ClipboardBoth, true, true},
	} {
		t.Run(string(c.mode), func(t *testing.T) {
			deniedRule := policy.RuleDirection
			if c.mode == library.ClipboardOff {
				deniedRule = policy.RuleModeOff
			}
			r := newRig(t, pol(c.mode), true, nil)

			// Host to guest: the host pushes its text into the daemon's clipboard.
			err := r.bridge.SendToGuest(ctx(t), "from host ✓")
			got, _ := r.store.Get()
			if c.toGuest {
				if err != nil || got != "from host ✓" {
					t.Fatalf("SendToGuest: %v; guest clipboard %q", err, got)
				}
				r.checkAudit(1, policy.HostToGuest, "from host ✓", policy.RuleAllowedByPolicy, "allowed")
			} else {
				wantDenied(t, err, deniedRule)
				if got != "" {
					t.Fatalf("guest clipboard %q after a denied crossing", got)
				}
				r.checkAudit(1, policy.HostToGuest, "from host ✓", deniedRule, "denied")
			}

			// Guest to host: the host fetches the daemon's clipboard.
			r.store.Set("from guest") //nolint:errcheck
			text, err := r.bridge.RequestFromGuest(ctx(t))
			hostText, _ := r.host.Read()
			if c.toHost {
				if err != nil || text != "from guest" || hostText != "from guest" {
					t.Fatalf("RequestFromGuest: %q, %v; host clipboard %q", text, err, hostText)
				}
				r.checkAudit(2, policy.GuestToHost, "from guest", policy.RuleAllowedByPolicy, "allowed")
			} else {
				wantDenied(t, err, deniedRule)
				if hostText != "" {
					t.Fatalf("host clipboard %q after a denied crossing", hostText)
				}
				r.checkAudit(2, policy.GuestToHost, "", deniedRule, "denied") // refused before asking the guest
			}
		})
	}
}

// The guest-initiated commands: "paddock-agent clip set" and "clip get".
func TestAgentCommands(t *testing.T) {
	for _, c := range []struct {
		mode            library.ClipboardMode
		toGuest, toHost bool
	}{
		{library.ClipboardOff, false, false},
		{library.ClipboardHostToGuest, true, false},
		{library.ClipboardGuestToHost, false, true},
		{library.ClipboardBoth, true, true},
	} {
		t.Run(string(c.mode), func(t *testing.T) {
			deniedRule := policy.RuleDirection
			if c.mode == library.ClipboardOff {
				deniedRule = policy.RuleModeOff
			}
			r := newRig(t, pol(c.mode), false, nil)
			err := agent.ClipSet(ctx(t), r.guest, "typed in the guest", quiet())
			hostText, _ := r.host.Read()
			if c.toHost {
				if err != nil || hostText != "typed in the guest" {
					t.Fatalf("clip set: %v; host clipboard %q", err, hostText)
				}
				r.checkAudit(1, policy.GuestToHost, "typed in the guest", policy.RuleAllowedByPolicy, "allowed")
			} else {
				var re *agent.RemoteError
				if !errors.As(err, &re) || !strings.Contains(re.Reason, deniedRule) || hostText != "" {
					t.Fatalf("clip set: %v, host clipboard %q; want refused with %q", err, hostText, deniedRule)
				}
				r.checkAudit(1, policy.GuestToHost, "typed in the guest", deniedRule, "denied")
			}

			// A fresh port end, as a second program run in the guest gets.
			r = newRig(t, pol(c.mode), false, nil)
			r.host.Write("host secret") //nolint:errcheck
			text, err := agent.ClipGet(ctx(t), r.guest, quiet())
			if c.toGuest {
				if err != nil || text != "host secret" {
					t.Fatalf("clip get: %q, %v", text, err)
				}
				r.checkAudit(1, policy.HostToGuest, "host secret", policy.RuleAllowedByPolicy, "allowed")
			} else {
				if err == nil || text != "" {
					t.Fatalf("clip get: %q, %v; want refused", text, err)
				}
				r.checkAudit(1, policy.HostToGuest, "", deniedRule, "denied")
			}
		})
	}
}

func TestOverSizeAndNotText(t *testing.T) {
	p := library.SharePolicy{Clipboard: library.ClipboardBoth, ClipboardMaxBytes: 10}
	r := newRig(t, p, true, nil)
	wantDenied(t, r.bridge.SendToGuest(ctx(t), "eleven byte"), policy.RuleOverSize)
	r.checkAudit(1, policy.HostToGuest, "eleven byte", policy.RuleOverSize, "denied")

	// Guest text over the cap but within the frame minimum is read, refused and digested.
	r.store.Set("0123456789abc") //nolint:errcheck
	_, err := r.bridge.RequestFromGuest(ctx(t))
	wantDenied(t, err, policy.RuleOverSize)
	r.checkAudit(2, policy.GuestToHost, "0123456789abc", policy.RuleOverSize, "denied")

	wantDenied(t, r.bridge.SendToGuest(ctx(t), "\xff\xfe"), policy.RuleNotText)
	r.checkAudit(3, policy.HostToGuest, "\xff\xfe", policy.RuleNotText, "denied")

	// Guest-initiated, on a port no daemon holds.
	r = newRig(t, p, false, nil)
	// The agent itself refuses to send more than the host announced.
	big := strings.Repeat("z", 5000)
	if err = agent.ClipSet(ctx(t), r.guest, big, quiet()); !errors.Is(err, agent.ErrTooLarge) {
		t.Fatalf("oversize offer: %v", err)
	}
	// A hostile guest sends it anyway: skipped unread, audited with its claimed size and no digest.
	r = newRig(t, p, false, nil)
	go io.Copy(io.Discard, r.guest) //nolint:errcheck // the host's HELLO and replies
	if _, err := r.guest.Write(agent.AppendFrame(nil, agent.Frame{Type: agent.TypeClipOffer, Seq: 5, Body: []byte(big)})); err != nil {
		t.Fatal(err)
	}
	waitAudit(t, r, 1)
	e := r.audit.all()[0]
	if e.Rule != policy.RuleOverSize || e.Decision != "denied" || e.Bytes != 5000 || e.SHA256 != "" {
		t.Fatalf("audit %+v", e)
	}
	if _, err := r.guest.Write(agent.AppendFrame(nil, agent.Frame{Type: agent.TypeClipOffer, Seq: 77, Body: []byte("a\xc0")})); err != nil {
		t.Fatal(err)
	}
	waitAudit(t, r, 2)
	r.checkAudit(2, policy.GuestToHost, "a\xc0", policy.RuleNotText, "denied")
	if h, _ := r.host.Read(); h != "" {
		t.Fatalf("host clipboard %q", h)
	}
}

func TestAsk(t *testing.T) {
	p := library.SharePolicy{Clipboard: library.ClipboardBoth, ClipboardMaxBytes: 1 << 20, ClipboardAsk: true}
	r := newRig(t, p, true, nil)
	r.asker.answer = false
	wantDenied(t, r.bridge.SendToGuest(ctx(t), "no"), policy.RuleUserDenied)
	r.checkAudit(1, policy.HostToGuest, "no", policy.RuleUserDenied, "denied")
	if got, _ := r.store.Get(); got != "" {
		t.Fatalf("guest clipboard %q after the user denied", got)
	}
	r.asker.answer = true
	if err := r.bridge.SendToGuest(ctx(t), "yes"); err != nil {
		t.Fatal(err)
	}
	r.checkAudit(2, policy.HostToGuest, "yes", policy.RuleUserAllowed, "allowed")
	r.store.Set("guest text") //nolint:errcheck
	if text, err := r.bridge.RequestFromGuest(ctx(t)); err != nil || text != "guest text" {
		t.Fatalf("%q, %v", text, err)
	}
	r.checkAudit(3, policy.GuestToHost, "guest text", policy.RuleUserAllowed, "allowed")
	want := []clipboard.AskRequest{
		{VMID: "vm-1", VMName: "debian", Direction: policy.HostToGuest, Bytes: 2},
		{VMID: "vm-1", VMName: "debian", Direction: policy.HostToGuest, Bytes: 3},
		{VMID: "vm-1", VMName: "debian", Direction: policy.GuestToHost, Bytes: 10},
	}
	if len(r.asker.asked) != 3 {
		t.Fatalf("asked %+v", r.asker.asked)
	}
	for i := range want {
		if r.asker.asked[i] != want[i] {
			t.Fatalf("ask %d: %+v, want %+v", i, r.asker.asked[i], want[i])
		}
	}
}

func TestRevokeAppliesAtOnce(t *testing.T) {
	r := newRig(t, pol(library.ClipboardBoth), true, nil)
	if err := r.bridge.SendToGuest(ctx(t), "one"); err != nil {
		t.Fatal(err)
	}
	r.bridge.SetPolicy(pol(library.ClipboardOff))
	wantDenied(t, r.bridge.SendToGuest(ctx(t), "two"), policy.RuleModeOff)
	if got, _ := r.store.Get(); got != "one" {
		t.Fatalf("guest clipboard %q", got)
	}
	r.checkAudit(2, policy.HostToGuest, "two", policy.RuleModeOff, "denied")

	// Raising the size cap is announced to the agent: a larger offer then passes.
	r.bridge.SetPolicy(library.SharePolicy{Clipboard: library.ClipboardBoth, ClipboardMaxBytes: 100})
	r.bridge.SetPolicy(library.SharePolicy{Clipboard: library.ClipboardBoth, ClipboardMaxBytes: 2 << 20})
	big := strings.Repeat("b", 1<<20+5)
	r.store.Set(big) //nolint:errcheck
	if text, err := r.bridge.RequestFromGuest(ctx(t)); err != nil || len(text) != len(big) {
		t.Fatalf("%d bytes, %v", len(text), err)
	}
}

func TestDefaultPolicyRefusesEverythingIntoARealLibrary(t *testing.T) {
	lib, err := library.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lib.Close() })
	vm, err := lib.CreateVM(context.Background(), library.VMSpec{Name: "debian", CPUs: 1, MemoryMiB: 512})
	if err != nil {
		t.Fatal(err)
	}
	if vm.Sharing.Clipboard != library.ClipboardOff {
		t.Fatalf("a new VM's clipboard is %q", vm.Sharing.Clipboard)
	}
	hostEnd, guestEnd := net.Pipe()
	host := &hostClip{text: "host secret"}
	b, err := clipboard.New(hostEnd, clipboard.Config{VMID: vm.ID, Policy: vm.Sharing, Host: host, Auditor: lib, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	store := &agent.MemoryStore{}
	store.Set("guest secret") //nolint:errcheck
	c, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); b.Run(c) }()                                  //nolint:errcheck
	go func() { defer wg.Done(); agent.Daemon(c, guestEnd, store, quiet()) }() //nolint:errcheck
	defer func() { cancel(); hostEnd.Close(); guestEnd.Close(); wg.Wait() }()

	wantDenied(t, b.SendToGuest(ctx(t), "to guest"), policy.RuleModeOff)
	if _, err := b.RequestFromGuest(ctx(t)); err == nil {
		t.Fatal("guest clipboard read under the default policy")
	}
	if err := b.SendHostClipboard(ctx(t)); err == nil {
		t.Fatal("host clipboard sent under the default policy")
	}
	if got, _ := store.Get(); got != "guest secret" || host.text != "host secret" {
		t.Fatalf("clipboards changed: guest %q, host %q", got, host.text)
	}
	entries, err := lib.ListAudit(context.Background(), library.AuditQuery{VM: vm.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("%d audit entries: %+v", len(entries), entries)
	}
	for _, e := range entries {
		if e.VMID != vm.ID || e.VMName != "debian" || e.Channel != "clipboard" || e.Rule != policy.RuleModeOff ||
			e.Decision != library.DecisionDenied {
			t.Fatalf("audit %+v", e)
		}
	}
	// Newest first: the host clipboard push, the request, the send (with the digest of what was refused).
	if entries[2].Direction != "host-to-guest" || entries[2].SHA256 != digest("to guest") || entries[2].Bytes != 8 ||
		entries[1].Direction != "guest-to-host" || entries[1].SHA256 != "" {
		t.Fatalf("audit %+v", entries)
	}
}

func waitAudit(t *testing.T, r *rig, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for len(r.audit.all()) < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// A guest flooding offers is cut off by the rate limit: the audit log and the user see a bounded number of them.
func TestFloodIsRateLimited(t *testing.T) {
	r := newRig(t, pol(library.ClipboardGuestToHost), false, nil)
	go io.Copy(io.Discard, r.guest) //nolint:errcheck // the host's HELLO and replies
	var flood []byte
	for i := 0; i < 500; i++ {
		flood = agent.AppendFrame(flood, agent.Frame{Type: agent.TypeClipOffer, Seq: uint32(i + 1), Body: []byte("spam")})
	}
	start := time.Now()
	if _, err := r.guest.Write(flood); err != nil {
		t.Fatal(err)
	}
	waitAudit(t, r, 1)
	time.Sleep(50 * time.Millisecond) // let the queue drain
	n := len(r.audit.all())
	if r.bridge.Dropped() == 0 {
		t.Fatal("no frame of the flood was dropped")
	}
	// One second's burst (50 frames) plus what refilled while writing.
	limit := 50 * (1 + time.Since(start).Seconds()) // agent.DefaultFramesPerSecond
	if n == 0 || float64(n) > limit {
		t.Fatalf("%d of 500 flooded offers audited, want at most %.0f", n, limit)
	}
}
