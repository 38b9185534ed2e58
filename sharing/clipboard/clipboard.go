// Package clipboard is the host side of one VM's clipboard channel: it speaks the agent protocol with
// paddock-agent over the VM's agent port, applies the VM's sharing policy to every crossing, asks the user when the
// policy says so, and audits every crossing, allowed or denied.
package clipboard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"paddock/library"
	"paddock/sharing/agent"
	"paddock/sharing/policy"
)

// HostClipboard is the host's clipboard (the GUI's).
type HostClipboard interface {
	Read() (string, error)
	Write(text string) error
}

// AskRequest is what a confirmation dialog shows.
type AskRequest struct {
	VMID, VMName string
	Direction    policy.Direction
	Bytes        int
}

// Asker asks the user to allow or deny one crossing. An error means nobody could be asked, which denies.
type Asker interface {
	AskClipboard(ctx context.Context, r AskRequest) (bool, error)
}

// Auditor keeps audit entries; *library.Library is one.
type Auditor interface {
	AppendAudit(ctx context.Context, e library.AuditEntry) (library.AuditEntry, error)
}

// Config sets a Bridge up.
type Config struct {
	VMID, VMName string
	Policy       library.SharePolicy
	Host         HostClipboard
	Asker        Asker   // nil: a policy that asks denies
	Auditor      Auditor // required
	// Limits bound what the agent may send; MaxBody 0 means the policy's size cap (at least 4 KiB).
	Limits agent.Limits
	Log    *slog.Logger
	Now    func() time.Time // nil: time.Now
}

// DeniedError is a crossing the policy or the user refused.
type DeniedError struct {
	Direction policy.Direction
	Rule      string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("clipboard %s denied: %s", e.Direction, e.Rule)
}

// Bridge is one VM's clipboard channel. Its methods are safe for concurrent use.
type Bridge struct {
	cfg  Config
	peer *agent.Peer
	log  *slog.Logger

	fixedMax bool // Config.Limits.MaxBody was given: the policy does not change it

	mu     sync.Mutex
	policy library.SharePolicy
}

// frameMax is the largest frame read under p: its size cap, but at least minFrame so that text a little over the
// cap is still read, refused and audited with its digest.
func frameMax(p library.SharePolicy) uint32 {
	capBytes := p.ClipboardMaxBytes
	if capBytes <= 0 {
		capBytes = policy.DefaultMaxBytes
	}
	return uint32(min(max(capBytes, minFrame), agent.CeilingBody))
}

// minFrame keeps the frame maximum useful when the policy's cap is tiny.
const minFrame = 4 << 10

// New makes the bridge over port (the VM's agent port). Call Run to serve it.
func New(port io.ReadWriter, cfg Config) (*Bridge, error) {
	if cfg.Auditor == nil {
		return nil, errors.New("clipboard bridge: an auditor is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := &Bridge{cfg: cfg, policy: cfg.Policy, log: cfg.Log.With("vm", cfg.VMName), fixedMax: cfg.Limits.MaxBody != 0}
	if !b.fixedMax {
		cfg.Limits.MaxBody = frameMax(cfg.Policy)
	}
	b.peer = agent.NewPeer(port, agent.Hello{Capabilities: agent.CapClipboard, AgentVersion: "paddock"},
		cfg.Limits, b.handle, b.log)
	return b, nil
}

// Run serves the agent until the port ends (nil on a clean end) or its stream breaks.
func (b *Bridge) Run(ctx context.Context) error { return b.peer.Run(ctx) }

// Dropped counts frames from the agent dropped unanswered (over the rate limit, or too many waiting).
func (b *Bridge) Dropped() uint64 { return b.peer.Dropped() }

// Agent waits for the agent's HELLO.
func (b *Bridge) Agent(ctx context.Context) (agent.Hello, error) { return b.peer.PeerHello(ctx) }

// SetPolicy changes the policy; it applies from the next crossing on, including one waiting for the guest.
// A changed size cap is announced to the agent.
func (b *Bridge) SetPolicy(p library.SharePolicy) {
	b.mu.Lock()
	old := b.policy
	b.policy = p
	b.mu.Unlock()
	if !b.fixedMax && frameMax(old) != frameMax(p) {
		if err := b.peer.SetMaxBody(frameMax(p)); err != nil {
			b.log.Warn("clipboard: announcing the new size cap", "err", err)
		}
	}
}

// Policy is the policy in force.
func (b *Bridge) Policy() library.SharePolicy {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.policy
}

// decide applies the policy in force to content and audits the crossing.
func (b *Bridge) decide(ctx context.Context, dir policy.Direction, content []byte) policy.Decision {
	d := policy.Decide(b.Policy(), dir, content, func(dir policy.Direction, n int) (bool, error) {
		if b.cfg.Asker == nil {
			return false, errors.New("no one to ask")
		}
		return b.cfg.Asker.AskClipboard(ctx, AskRequest{VMID: b.cfg.VMID, VMName: b.cfg.VMName, Direction: dir, Bytes: n})
	})
	if d.Allowed {
		// The user may have taken a while: a revocation meanwhile still wins.
		if rule := policy.Permits(b.Policy(), dir); rule != "" {
			d = policy.Decision{Rule: rule}
		}
	}
	b.audit(ctx, policy.Crossing{Direction: dir, Bytes: int64(len(content)), Content: content, Decision: d})
	return d
}

func (b *Bridge) audit(ctx context.Context, c policy.Crossing) {
	c.Time, c.VMID, c.VMName = b.cfg.Now(), b.cfg.VMID, b.cfg.VMName
	if _, err := b.cfg.Auditor.AppendAudit(context.WithoutCancel(ctx), c.AuditEntry()); err != nil {
		b.log.Error("clipboard: writing audit entry", "err", err)
	}
	b.log.Info("clipboard crossing", "direction", c.Direction, "bytes", c.Bytes, "rule", c.Rule, "decision", c.Decision.String())
}

// refuseEarly audits and returns the refusal when dir is closed whatever the content.
func (b *Bridge) refuseEarly(ctx context.Context, dir policy.Direction) error {
	rule := policy.Permits(b.Policy(), dir)
	if rule == "" {
		return nil
	}
	b.audit(ctx, policy.Crossing{Direction: dir, Decision: policy.Decision{Rule: rule}})
	return &DeniedError{Direction: dir, Rule: rule}
}

// SendToGuest puts text on the guest's clipboard, if the policy (and the user) allow.
func (b *Bridge) SendToGuest(ctx context.Context, text string) error {
	d := b.decide(ctx, policy.HostToGuest, []byte(text))
	if !d.Allowed {
		return &DeniedError{Direction: policy.HostToGuest, Rule: d.Rule}
	}
	if _, err := b.peer.Request(ctx, agent.TypeClipSet, []byte(text)); err != nil {
		return fmt.Errorf("sending clipboard to the guest: %w", err)
	}
	return nil
}

// SendHostClipboard sends the host clipboard's text to the guest.
func (b *Bridge) SendHostClipboard(ctx context.Context) error {
	if err := b.refuseEarly(ctx, policy.HostToGuest); err != nil {
		return err
	}
	text, err := b.cfg.Host.Read()
	if err != nil {
		return fmt.Errorf("reading the host clipboard: %w", err)
	}
	return b.SendToGuest(ctx, text)
}

// RequestFromGuest fetches the guest's clipboard and, if the policy (and the user) allow, puts it on the host
// clipboard and returns it.
func (b *Bridge) RequestFromGuest(ctx context.Context) (string, error) {
	if err := b.refuseEarly(ctx, policy.GuestToHost); err != nil {
		return "", err
	}
	f, err := b.peer.Request(ctx, agent.TypeClipRequest, nil)
	var fe *agent.FrameError
	if errors.As(err, &fe) {
		b.auditRefused(ctx, fe)
		return "", &DeniedError{Direction: policy.GuestToHost, Rule: ruleOf(fe)}
	}
	if err != nil {
		return "", fmt.Errorf("asking the guest for its clipboard: %w", err)
	}
	if f.Type != agent.TypeClipData {
		return "", fmt.Errorf("asking the guest for its clipboard: it answered %v", f.Type)
	}
	return b.acceptFromGuest(ctx, f.Body)
}

func (b *Bridge) acceptFromGuest(ctx context.Context, content []byte) (string, error) {
	d := b.decide(ctx, policy.GuestToHost, content)
	if !d.Allowed {
		return "", &DeniedError{Direction: policy.GuestToHost, Rule: d.Rule}
	}
	text := string(content)
	if err := b.cfg.Host.Write(text); err != nil {
		return "", fmt.Errorf("writing the host clipboard: %w", err)
	}
	return text, nil
}

// ruleOf names the rule for clipboard text the decoder refused.
func ruleOf(fe *agent.FrameError) string {
	switch {
	case errors.Is(fe.Err, agent.ErrTooLarge):
		return policy.RuleOverSize
	case errors.Is(fe.Err, agent.ErrNotUTF8):
		return policy.RuleNotText
	}
	return fe.Err.Error()
}

// auditRefused audits guest clipboard text the decoder refused. A rate-limited frame is not audited (auditing a
// flood would be the flood): the agent layer counts and drops it.
func (b *Bridge) auditRefused(ctx context.Context, fe *agent.FrameError) {
	if errors.Is(fe.Err, agent.ErrRateLimited) {
		return
	}
	c := policy.Crossing{Direction: policy.GuestToHost, Bytes: int64(fe.Length), Content: fe.Body,
		Decision: policy.Decision{Rule: ruleOf(fe)}}
	b.audit(ctx, c)
}

// handle answers the agent's requests.
func (b *Bridge) handle(ctx context.Context, f agent.Frame, refused *agent.FrameError) *agent.Frame {
	if refused != nil {
		if refused.Type == agent.TypeClipOffer {
			b.auditRefused(ctx, refused)
		} else {
			b.log.Warn("clipboard: refused frame from the agent", "err", refused)
		}
		return agent.ErrorReply(refused.Seq, ruleOf(refused))
	}
	switch f.Type {
	case agent.TypeClipOffer:
		if _, err := b.acceptFromGuest(ctx, f.Body); err != nil {
			return agent.ErrorReply(f.Seq, reason(err))
		}
		return &agent.Frame{Type: agent.TypeAck, Seq: f.Seq}
	case agent.TypeClipRequest:
		if err := b.refuseEarly(ctx, policy.HostToGuest); err != nil {
			return agent.ErrorReply(f.Seq, reason(err))
		}
		text, err := b.cfg.Host.Read()
		if err != nil {
			b.log.Warn("clipboard: reading the host clipboard", "err", err)
			return agent.ErrorReply(f.Seq, "the host clipboard could not be read")
		}
		if d := b.decide(ctx, policy.HostToGuest, []byte(text)); !d.Allowed {
			return agent.ErrorReply(f.Seq, "denied: "+d.Rule)
		}
		if uint64(len(text)) > uint64(b.peer.MaxSend()) {
			return agent.ErrorReply(f.Seq, "the host clipboard is over the agent's maximum")
		}
		return &agent.Frame{Type: agent.TypeClipData, Seq: f.Seq, Body: []byte(text)}
	}
	return agent.ErrorReply(f.Seq, f.Type.String()+" is not accepted by the host")
}

// reason is what the agent is told: the rule for a denial, nothing of the host's internals otherwise.
func reason(err error) string {
	var de *DeniedError
	if errors.As(err, &de) {
		return "denied: " + de.Rule
	}
	return "the host could not take the clipboard"
}
