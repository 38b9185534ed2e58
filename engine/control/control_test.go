package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func testServer(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vm.sock")
	h := HandlerFunc(func(op string, args json.RawMessage) (any, error) {
		switch op {
		case OpStatus:
			return Status{Name: "t", State: StateRunning, VCPUs: 2}, nil
		case "panic":
			panic("boom")
		case "echo":
			var s string
			if err := json.Unmarshal(args, &s); err != nil {
				return nil, fmt.Errorf("bad args: %w", err)
			}
			return s, nil
		}
		return nil, ErrUnknownOp
	})
	s, err := Listen(path, h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return path
}

func TestCallAndErrors(t *testing.T) {
	path := testServer(t)
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var st Status
	if err := c.Call(OpStatus, nil, &st); err != nil || st.State != StateRunning || st.VCPUs != 2 {
		t.Fatalf("status = %+v, %v", st, err)
	}
	var re *RemoteError
	if err := c.Call("frobnicate", nil, nil); !errors.As(err, &re) || !strings.Contains(re.Msg, "unknown request") {
		t.Fatalf("unknown op: %v", err)
	}
	if err := c.Call("panic", nil, nil); !errors.As(err, &re) {
		t.Fatalf("panicking handler: %v", err)
	}
	var got string
	if err := c.Call("echo", "hi", &got); err != nil || got != "hi" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	// The connection survives all of the above.
	if err := c.Call(OpStatus, nil, &st); err != nil {
		t.Fatal(err)
	}
}

func TestMalformedLines(t *testing.T) {
	path := testServer(t)
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	for _, line := range []string{"not json", `{"v":99,"id":3,"op":"status"}`, `{"v":1,"id":4,"op":"echo","args":5}`} {
		fmt.Fprintln(conn, line)
		raw, err := r.ReadBytes('\n')
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		var rep Reply
		if err := json.Unmarshal(raw, &rep); err != nil || rep.OK || rep.Error == "" {
			t.Fatalf("%q: reply %s", line, raw)
		}
	}
	// Oversized line: error reply, then the server hangs up.
	big := strings.Repeat("x", MaxLine+10)
	go fmt.Fprintln(conn, big)
	raw, _ := r.ReadBytes('\n')
	if !strings.Contains(string(raw), "longer than") {
		t.Fatalf("oversized request reply %q", raw)
	}
}

func TestNameInUseAndStale(t *testing.T) {
	path := testServer(t)
	if _, err := Listen(path, HandlerFunc(nil), slog.Default()); !errors.Is(err, ErrNameInUse) {
		t.Fatalf("second Listen on a live socket: %v", err)
	}
	// A socket file with nobody behind it is stale and gets replaced.
	stale := filepath.Join(t.TempDir(), "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := Dial(stale); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("dial stale socket: %v", err)
	}
	s, err := Listen(stale, HandlerFunc(nil), slog.Default())
	if err != nil {
		t.Fatalf("Listen over stale socket: %v", err)
	}
	s.Close()
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"a", "web-1", "deb12.test_x"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "../x", "a/b", ".hidden", strings.Repeat("a", 65), "sp ace"} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
