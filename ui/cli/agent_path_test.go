package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// An installed paddock in PREFIX/bin finds the agent in PREFIX/lib/paddock/guest-tools, as the Debian package lays
// it out; a missing or non-executable one is not found.
func TestInstalledAgent(t *testing.T) {
	prefix := t.TempDir()
	bin := filepath.Join(prefix, "bin")
	dir := filepath.Join(prefix, "lib", "paddock", "guest-tools")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if p, ok := installedAgent(bin); ok {
		t.Fatalf("found %s before there was one", p)
	}
	agent := filepath.Join(dir, "paddock-agent")
	if err := os.WriteFile(agent, []byte("\x7fELF"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, ok := installedAgent(bin); ok {
		t.Fatalf("found %s, which is not executable", p)
	}
	if err := os.Chmod(agent, 0o755); err != nil {
		t.Fatal(err)
	}
	if p, ok := installedAgent(bin); !ok || p != agent {
		t.Fatalf("installedAgent(%s) = %q, %v; want %s", bin, p, ok, agent)
	}
}
