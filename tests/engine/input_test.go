package engine_test

import (
	"path/filepath"
	"testing"
)

// Bad input from a user: a non-zero exit, one line that says what is wrong, no Go panic.
func TestBadInput(t *testing.T) {
	hello := func(t *testing.T) string { return buildGuest(t, "hello") }
	cases := []struct {
		name     string
		needsKVM bool
		args     func(t *testing.T) []string
		mentions []string
	}{
		{"missing kernel", false, func(t *testing.T) []string {
			return []string{"--kernel", filepath.Join(t.TempDir(), "no-such-vmlinuz")}
		}, []string{"no-such-vmlinuz"}},
		{"kernel is not a kernel", false, func(t *testing.T) []string {
			return []string{"--kernel", writeFile(t, "notes.txt", []byte("just some text, not a kernel\n"), 64*1024)}
		}, []string{"kernel"}},
		{"kernel is empty", false, func(t *testing.T) []string {
			return []string{"--kernel", writeFile(t, "empty", nil, 0)}
		}, []string{"kernel"}},
		{"kernel is a directory", false, func(t *testing.T) []string {
			return []string{"--kernel", t.TempDir()}
		}, []string{"kernel"}},
		{"memory 1 MiB", false, func(t *testing.T) []string {
			return []string{"--kernel", hello(t), "--memory", "1"}
		}, []string{"memory"}},
		{"cpus 0", false, func(t *testing.T) []string {
			return []string{"--kernel", hello(t), "--cpus", "0"}
		}, []string{"cpu"}},
		{"missing disk", false, func(t *testing.T) []string {
			return []string{"--kernel", hello(t), "--disk", filepath.Join(t.TempDir(), "no-such-disk.img")}
		}, []string{"no-such-disk.img"}},
		{"missing initrd", false, func(t *testing.T) []string {
			return []string{"--kernel", hello(t), "--initrd", filepath.Join(t.TempDir(), "no-such-initrd")}
		}, []string{"no-such-initrd"}},
		{"initrd bigger than RAM", true, func(t *testing.T) []string {
			return []string{"--kernel", hello(t), "--memory", "64", "--initrd", writeFile(t, "big.img", []byte("x"), 80*mib)}
		}, []string{"initrd"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.needsKVM {
				requireKVM(t)
			}
			args := append([]string{"run", "--serial", "stdio"}, c.args(t)...)
			r := paddock(t, newEnv(t), args...)
			if r.code == 0 {
				t.Fatalf("paddock accepted it\n%s", r.describe())
			}
			r.expectCleanFailure(t, c.mentions...)
		})
	}
}

// A run without --kernel is a usage error.
func TestRunWithoutKernel(t *testing.T) {
	r := paddock(t, newEnv(t), "run")
	if r.code == 0 {
		t.Fatalf("paddock run without --kernel succeeded\n%s", r.describe())
	}
	if goPanic.MatchString(r.stderr) {
		t.Fatalf("a Go panic\n%s", r.describe())
	}
	if len(r.stderr) == 0 {
		t.Fatalf("no message\n%s", r.describe())
	}
}
