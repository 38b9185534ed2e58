package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clipboard")
	s := FileStore{Path: path, MaxSize: 10}
	if text, err := s.Get(); err != nil || text != "" {
		t.Fatalf("missing file: %q, %v", text, err)
	}
	if err := s.Set("héllo"); err != nil {
		t.Fatal(err)
	}
	if text, err := s.Get(); err != nil || text != "héllo" {
		t.Fatalf("%q, %v", text, err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("clipboard file mode %v, %v", st.Mode(), err)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("x", 11)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(); err == nil {
		t.Fatal("a clipboard file over the maximum was read")
	}
}
