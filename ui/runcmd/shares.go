package runcmd

import (
	"fmt"
	"os"
	"strings"

	"paddock/engine/machine"
	"paddock/engine/virtio/ninep"
	"paddock/sharing/shareserver"
	"paddock/ui/clikit"
)

// shareFlags collects --share HOSTDIR:TAG[:rw] (read-only unless :rw).
type shareFlags []shareserver.Share

func (s *shareFlags) String() string { return "" }

func (s *shareFlags) Set(v string) error {
	sh := shareserver.Share{ReadOnly: true}
	rest := v
	switch {
	case strings.HasSuffix(rest, ":rw"):
		sh.ReadOnly, rest = false, strings.TrimSuffix(rest, ":rw")
	case strings.HasSuffix(rest, ":ro"):
		rest = strings.TrimSuffix(rest, ":ro")
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return fmt.Errorf("--share %q: want HOSTDIR:TAG or HOSTDIR:TAG:rw", v)
	}
	sh.HostDir, sh.Tag = rest[:i], rest[i+1:]
	if err := ninep.ValidTag(sh.Tag); err != nil {
		return err
	}
	for _, o := range *s {
		if o.Tag == sh.Tag {
			return fmt.Errorf("--share: the tag %q is given twice", sh.Tag)
		}
	}
	fi, err := os.Stat(sh.HostDir)
	if err != nil {
		return fmt.Errorf("--share %s: %w", sh.HostDir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("--share %s: not a directory", sh.HostDir)
	}
	*s = append(*s, sh)
	return nil
}

// shareServerProgram is the program to run share servers with: the lean VMM program when it is installed beside
// this one (it can jail every thread on any Landlock kernel), else this program.
func shareServerProgram() (string, error) {
	if lean, ok := clikit.Beside(clikit.LeanVMMName); ok {
		return lean, nil
	}
	return os.Executable()
}

// startShares starts one share server per share, logging to logFile, and returns the machine's side of them.
// The caller closes the connections once the machine is closed; the servers then end by themselves.
func startShares(shares []shareserver.Share, logFile *os.File) ([]machine.Share, error) {
	if len(shares) == 0 {
		return nil, nil
	}
	program, err := shareServerProgram()
	if err != nil {
		return nil, fmt.Errorf("find the program to serve shares: %w", err)
	}
	var out []machine.Share
	for _, s := range shares {
		conn, _, err := shareserver.Spawn(program, s, logFile)
		if err != nil {
			closeShares(out)
			return nil, err
		}
		out = append(out, machine.Share{Tag: s.Tag, ReadOnly: s.ReadOnly, Conn: conn})
	}
	return out, nil
}

func closeShares(shares []machine.Share) {
	for _, s := range shares {
		s.Conn.Close()
	}
}
