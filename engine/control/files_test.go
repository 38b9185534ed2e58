package control

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fileEcho reads the first bytes of each file it is handed.
type fileEcho struct{ HandlerFunc }

func (fileEcho) HandleFiles(op string, _ json.RawMessage, files []*os.File) (any, error) {
	var heads []string
	for _, f := range files {
		buf := make([]byte, 5)
		n, _ := f.ReadAt(buf, 0)
		heads = append(heads, string(buf[:n]))
		f.Close()
	}
	return heads, nil
}

func fileServer(t *testing.T, h Handler) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vm.sock")
	s, err := Listen(path, h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return path
}

func tempFile(t *testing.T, content string) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// Files travel with a request to a handler that takes them, in order.
func TestCallWithFiles(t *testing.T) {
	c, err := Dial(fileServer(t, fileEcho{}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var heads []string
	if err := c.CallWithFiles("media", nil, &heads, tempFile(t, "first file"), tempFile(t, "second")); err != nil {
		t.Fatal(err)
	}
	if strings.Join(heads, ",") != "first,secon" {
		t.Errorf("the handler read %q", heads)
	}
	// The connection carries on with plain calls.
	if err := c.CallWithFiles("media", nil, &heads, tempFile(t, "again")); err != nil || heads[0] != "again" {
		t.Errorf("second call: %q, %v", heads, err)
	}
}

// A handler that takes no files refuses them, and closes them.
func TestFilesToAHandlerThatTakesNone(t *testing.T) {
	c, err := Dial(fileServer(t, HandlerFunc(func(string, json.RawMessage) (any, error) { return "ok", nil })))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// One answered call first: the server has accepted the connection, so its descriptor is counted before.
	if err := c.Call("status", nil, nil); err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	f := tempFile(t, "x")
	for range 10 {
		if err := c.CallWithFiles("status", nil, nil, f); err == nil || !strings.Contains(err.Error(), "takes no files") {
			t.Fatalf("got %v", err)
		}
	}
	if after := openFDs(t); after > before+1 {
		t.Errorf("%d descriptors open after refused files, %d before (one is the test's own)", after, before)
	}
}

// A hostile client: descriptors it does not declare are closed; a request declaring more than arrived, or more
// than the bound, is refused.
func TestUndeclaredAndMissingFiles(t *testing.T) {
	path := fileServer(t, fileEcho{HandlerFunc(func(string, json.RawMessage) (any, error) { return "ok", nil })})
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	uc := conn.(*net.UnixConn)
	f := tempFile(t, "hello")
	before := openFDs(t)
	send := func(line string, fds ...int) string {
		t.Helper()
		var oob []byte
		if len(fds) > 0 {
			oob = unix.UnixRights(fds...)
		}
		if _, _, err := uc.WriteMsgUnix([]byte(line+"\n"), oob, nil); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	for range 20 { // undeclared: not leaked
		if got := send(`{"v":1,"id":1,"op":"media"}`, int(f.Fd()), int(f.Fd())); !strings.Contains(got, `"ok":true`) {
			t.Fatalf("plain request with stray files: %s", got)
		}
	}
	if got := send(`{"v":1,"id":2,"op":"media","fds":2}`, int(f.Fd())); !strings.Contains(got, "2 files but") {
		t.Errorf("declaring 2 with 1 sent: %s", got)
	}
	if got := send(`{"v":1,"id":3,"op":"media","fds":99}`); !strings.Contains(got, "at most") {
		t.Errorf("declaring 99: %s", got)
	}
	conn.Close()
	// The server closes what it holds when the connection ends; give it a moment.
	for i := 0; i < 100 && openFDs(t) > before; i++ {
		<-time.After(10 * time.Millisecond)
	}
	if after := openFDs(t); after > before {
		t.Errorf("%d descriptors open, %d before: the server kept stray files", after, before)
	}
}
