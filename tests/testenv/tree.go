package testenv

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TreeState describes everything under dir, so that two calls tell whether anything changed: names, types, modes,
// link counts, sizes, modification times, file contents and symlink targets.
func TreeState(tb testing.TB, dir string) string {
	tb.Helper()
	var sb strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&sb, "%s %o %d %d %d.%d", rel, st.Mode, st.Nlink, st.Size, st.Mtim.Sec, st.Mtim.Nsec)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&sb, " %x", sha256.Sum256(b))
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			fmt.Fprintf(&sb, " -> %s", target)
		}
		sb.WriteByte('\n')
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return sb.String()
}
