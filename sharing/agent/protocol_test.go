package agent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"
)

func encode(frames ...Frame) []byte {
	var b []byte
	for _, f := range frames {
		b = AppendFrame(b, f)
	}
	return b
}

func TestDecoderRoundTrip(t *testing.T) {
	hello := Hello{Capabilities: CapClipboard, MaxBody: 4096, AgentVersion: AgentVersion}
	in := []Frame{
		{Type: TypeHello, Body: hello.Marshal()},
		{Type: TypeClipOffer, Seq: 7, Body: []byte("héllo")},
		{Type: TypeClipRequest, Seq: 8, Body: []byte{}},
		{Type: TypeAck, Seq: 9, Body: []byte{}},
		{Type: TypeError, Seq: 10, Body: []byte("denied: mode off")},
	}
	d := NewDecoder(bytes.NewReader(encode(in...)), Limits{})
	for i, want := range in {
		got, err := d.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got.Type != want.Type || got.Seq != want.Seq || !bytes.Equal(got.Body, want.Body) {
			t.Fatalf("frame %d: got %+v, want %+v", i, got, want)
		}
	}
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
	h, err := ParseHello(in[0].Body)
	if err != nil || h != hello {
		t.Fatalf("hello %+v, %v", h, err)
	}
}

func TestDecoderRefusesAndStaysInStep(t *testing.T) {
	next := Frame{Type: TypeClipOffer, Seq: 99, Body: []byte("after")}
	cases := []struct {
		name string
		bad  []byte
		want error
		body bool // the refused body is returned
	}{
		{"over the maximum", encode(Frame{Type: TypeClipOffer, Seq: 1, Body: bytes.Repeat([]byte("a"), 101)}), ErrTooLarge, false},
		{"unknown type", encode(Frame{Type: 42, Seq: 1, Body: []byte("xx")}), ErrUnknownType, false},
		{"not UTF-8", encode(Frame{Type: TypeClipOffer, Seq: 1, Body: []byte{0xff, 0xfe}}), ErrNotUTF8, true},
		{"request with a body", encode(Frame{Type: TypeClipRequest, Seq: 1, Body: []byte("x")}), ErrMalformed, true},
		{"bad hello", encode(Frame{Type: TypeHello, Seq: 1, Body: []byte{1}}), ErrMalformed, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder(bytes.NewReader(append(c.bad, encode(next)...)), Limits{MaxBody: 100})
			_, err := d.Next()
			var fe *FrameError
			if !errors.As(err, &fe) || !errors.Is(err, c.want) || fe.Seq != 1 {
				t.Fatalf("got %v, want a FrameError for seq 1 wrapping %v", err, c.want)
			}
			if (fe.Body != nil) != c.body {
				t.Fatalf("body returned: %v, want %v", fe.Body != nil, c.body)
			}
			f, err := d.Next()
			if err != nil || string(f.Body) != "after" || f.Seq != 99 {
				t.Fatalf("next frame: %+v, %v", f, err)
			}
		})
	}
}

func TestDecoderFatalHeaders(t *testing.T) {
	huge := encode(Frame{Type: TypeClipOffer, Seq: 1})
	binary.LittleEndian.PutUint32(huge[12:], CeilingBody+1)
	badMagic := encode(Frame{Type: TypeAck})
	badMagic[0] = 'X'
	badVersion := encode(Frame{Type: TypeAck})
	badVersion[4] = 2
	flags := encode(Frame{Type: TypeAck})
	flags[6] = 1
	truncated := encode(Frame{Type: TypeClipOffer, Body: []byte("abcdef")})[:HeaderSize+3]
	ack := encode(Frame{Type: TypeAck})
	for name, in := range map[string][]byte{"huge length": append(huge, ack...), "magic": append(badMagic, ack...),
		"version": append(badVersion, ack...), "flags": append(flags, ack...), "truncated body": truncated,
		"truncated header": huge[:5]} {
		d := NewDecoder(bytes.NewReader(in), Limits{})
		_, err := d.Next()
		var fe *FrameError
		if !errors.Is(err, ErrBadHeader) || errors.As(err, &fe) {
			t.Fatalf("%s: got %v, want a fatal ErrBadHeader", name, err)
		}
		if _, err2 := d.Next(); err2 != err {
			t.Fatalf("%s: the decoder read on after a fatal error: %v", name, err2)
		}
	}
}

func TestDecoderAllocatesNothingForAnOversizeClaim(t *testing.T) {
	// A header claiming the ceiling, followed by nothing: refusing it must not allocate the claimed size.
	h := encode(Frame{Type: TypeClipOffer, Seq: 1})
	binary.LittleEndian.PutUint32(h[12:], CeilingBody)
	var m1, m2 = new(runtimeMem), new(runtimeMem)
	m1.read()
	d := NewDecoder(bytes.NewReader(h), Limits{MaxBody: 1024})
	if _, err := d.Next(); !errors.Is(err, ErrBadHeader) {
		t.Fatalf("truncated oversize frame: %v", err)
	}
	m2.read()
	if grew := m2.total - m1.total; grew > 1<<20 {
		t.Fatalf("decoding allocated %d bytes for a frame it refused", grew)
	}
}

func TestDecoderRateLimits(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	frame := encode(Frame{Type: TypeClipOffer, Seq: 1, Body: []byte("x")})
	var stream []byte
	for i := 0; i < 4; i++ {
		stream = append(stream, frame...)
	}
	d := NewDecoder(bytes.NewReader(stream), Limits{FramesPerSecond: 2, Now: clock})
	for i, want := range []error{nil, nil, ErrRateLimited} {
		if _, err := d.Next(); !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Fatalf("frame %d: %v, want %v", i, err, want)
		}
	}
	now = now.Add(time.Second)
	if _, err := d.Next(); err != nil {
		t.Fatalf("after a second: %v", err)
	}

	// Bytes: a 1000-byte/s budget lets one full frame through (the burst covers MaxBody), then refuses.
	big := encode(Frame{Type: TypeClipOffer, Seq: 2, Body: bytes.Repeat([]byte("y"), 900)})
	d = NewDecoder(bytes.NewReader(append(append(big, big...), big...)), Limits{MaxBody: 1000, BytesPerSecond: 1000, Now: clock})
	if _, err := d.Next(); err != nil {
		t.Fatalf("first big frame: %v", err)
	}
	if _, err := d.Next(); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("second big frame at once: %v, want rate limited", err)
	}
	now = now.Add(time.Second)
	if _, err := d.Next(); err != nil {
		t.Fatalf("big frame a second later: %v", err)
	}
}

func TestWriteFrameRefusesOverMax(t *testing.T) {
	var b bytes.Buffer
	if err := WriteFrame(&b, Frame{Type: TypeClipSet, Body: make([]byte, 11)}, 10); !errors.Is(err, ErrTooLarge) || b.Len() != 0 {
		t.Fatalf("got %v with %d bytes written", err, b.Len())
	}
}

func TestErrorReplyCutsOnARuneBoundary(t *testing.T) {
	f := ErrorReply(3, string(bytes.Repeat([]byte("é"), MaxReason)))
	d := NewDecoder(bytes.NewReader(encode(*f)), Limits{})
	if _, err := d.Next(); err != nil || len(f.Body) > MaxReason {
		t.Fatalf("%v, %d bytes", err, len(f.Body))
	}
}

func FuzzDecoder(f *testing.F) {
	f.Add(encode(Frame{Type: TypeHello, Body: Hello{MaxBody: 10, AgentVersion: "x"}.Marshal()},
		Frame{Type: TypeClipOffer, Seq: 1, Body: []byte("hi")}))
	f.Add(encode(Frame{Type: TypeError, Seq: 2, Body: []byte{0xff}}, Frame{Type: 9, Seq: 3, Body: []byte("??")}))
	f.Add([]byte("PDAG\x01\x02\x00\x00\x01\x00\x00\x00\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 64
		d := NewDecoder(bytes.NewReader(data), Limits{MaxBody: max, FramesPerSecond: 1e9, BytesPerSecond: 1e9})
		for i := 0; i < 1000; i++ {
			fr, err := d.Next()
			var fe *FrameError
			if errors.As(err, &fe) {
				if len(fe.Body) > max {
					t.Fatalf("refused body of %d bytes kept", len(fe.Body))
				}
				continue
			}
			if err != nil {
				return
			}
			if len(fr.Body) > max || !fr.Type.known() {
				t.Fatalf("accepted %+v", fr)
			}
			// What is accepted encodes back to a frame the decoder accepts identically.
			again, err := NewDecoder(bytes.NewReader(AppendFrame(nil, fr)), Limits{MaxBody: max}).Next()
			if err != nil || again.Type != fr.Type || again.Seq != fr.Seq || !bytes.Equal(again.Body, fr.Body) {
				t.Fatalf("re-encoding %+v gave %+v, %v", fr, again, err)
			}
		}
	})
}
