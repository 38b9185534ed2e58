package vmm

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"paddock/engine/machine"
)

// ShareSpec is one folder share of a VM. The VMM never opens the folder: a share server jailed to it serves it,
// and the VMM gets that server's connection as descriptor FD.
type ShareSpec struct {
	Tag      string `json:"tag"`
	HostDir  string `json:"host_dir"` // for display and logs only
	ReadOnly bool   `json:"read_only"`
	FD       int    `json:"fd"` // set by Start
}

// firstShareFD is the descriptor of the first share's connection in the VMM: the spec is 3.
const firstShareFD = 4

// inheritShares takes the share connections the VMM inherited. They stay open across the jail: the machine keeps
// using them after set-up.
func inheritShares(specs []ShareSpec) ([]machine.Share, error) {
	var out []machine.Share
	for _, s := range specs {
		if s.FD < firstShareFD {
			return out, fmt.Errorf("share %q: no connection descriptor", s.Tag)
		}
		var st unix.Stat_t
		if err := unix.Fstat(s.FD, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
			return out, fmt.Errorf("share %q: descriptor %d is not a socket (%v)", s.Tag, s.FD, err)
		}
		unix.CloseOnExec(s.FD)
		out = append(out, machine.Share{Tag: s.Tag, ReadOnly: s.ReadOnly, Conn: os.NewFile(uintptr(s.FD), "share:"+s.Tag)})
	}
	return out, nil
}

func closeShares(shares []machine.Share) {
	for _, s := range shares {
		s.Conn.Close()
	}
}
