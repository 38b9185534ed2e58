package guesttools

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"paddock/library/iso"
)

var stamp = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func writeImage(t *testing.T, files []File) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteISO(&buf, VolumeID, files, stamp); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%sector != 0 {
		t.Fatalf("image of %d bytes is not whole sectors", buf.Len())
	}
	path := filepath.Join(t.TempDir(), "tools.iso")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func testFiles() []File {
	agent := append([]byte("\x7fELF"), bytes.Repeat([]byte{0xA5, 0x5A, 1, 2, 3}, 5000)...) // several sectors
	return Files(agent)
}

func TestImageReadsBackWithLibraryISO(t *testing.T) {
	path := writeImage(t, testFiles())
	info, err := iso.Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.VolumeID != VolumeID {
		t.Fatalf("volume ID %q", info.VolumeID)
	}
}

func TestImageReadsBackWithXorriso(t *testing.T) {
	xorriso, err := exec.LookPath("xorriso")
	if err != nil {
		t.Skip("xorriso is not installed")
	}
	files := testFiles()
	path := writeImage(t, files)
	out, err := exec.Command(xorriso, "-indev", path, "-ls", "/").CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso -ls: %v\n%s", err, out)
	}
	for _, f := range files {
		if !strings.Contains(string(out), "'"+f.Name+"'") {
			t.Errorf("xorriso does not list %s (Rock Ridge names):\n%s", f.Name, out)
		}
	}
	dir := t.TempDir()
	out, err = exec.Command(xorriso, "-osirrox", "on", "-indev", path, "-extract", "/", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso -extract: %v\n%s", err, out)
	}
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("%s: %d bytes read back, want %d identical", f.Name, len(got), len(f.Data))
		}
		st, err := os.Stat(filepath.Join(dir, f.Name))
		if err != nil || st.Mode().Perm() != f.Mode.Perm() {
			t.Errorf("%s: mode %v, want %v (Rock Ridge PX)", f.Name, st.Mode().Perm(), f.Mode.Perm())
		}
	}
	// Without Rock Ridge, the plain ISO 9660 names are 8.3.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"INSTALL.SH;1", "README.TXT;1", "PADDOCK_.;1", "PADDOCK_.SER;1"} {
		if !bytes.Contains(raw[rootSector*sector:(rootSector+1)*sector], []byte(want)) {
			t.Errorf("no ISO 9660 name %s in the root directory", want)
		}
	}
}

func TestShortNamesAreUnique(t *testing.T) {
	used := map[string]bool{}
	var got []string
	for _, n := range []string{"a-very-long-name.txt", "a-very-long-name-2.txt", "x.tar.gz", ".hidden", "ünï"} {
		s := shortName(n, used)
		if s == "" || strings.Trim(strings.Replace(s, ".", "", 1), dChars) != "" || len(s) > 12 {
			t.Fatalf("%q -> %q", n, s)
		}
		got = append(got, s)
	}
	if got[0] == got[1] {
		t.Fatalf("duplicate names %v", got)
	}
}

func TestRefusesBadInput(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteISO(&buf, "lower", nil, stamp); err == nil {
		t.Fatal("lower-case volume ID accepted")
	}
	if err := WriteISO(&buf, VolumeID, []File{{Name: "a/b"}}, stamp); err == nil {
		t.Fatal("a path accepted as a file name")
	}
	notELF := filepath.Join(t.TempDir(), "agent")
	os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755)
	if err := Build(&buf, notELF, stamp); err == nil {
		t.Fatal("a script accepted as the agent")
	}
}
