package cli

import (
	"os"
	"path/filepath"

	"paddock/sharing/guesttools"
	"paddock/ui/clikit"
)

// installedAgentDir is where an installed Paddock keeps the guest agent, relative to the prefix its programs are
// in (PREFIX/bin/paddock): the agent is a program for guests, not one for the host's PATH.
const installedAgentDir = "lib/paddock/guest-tools"

// findAgent finds the paddock-agent program to put on the guest tools image: beside this program (a build's bin/),
// else where the installed package keeps it.
func findAgent() (string, bool) {
	if p, ok := clikit.Beside(guesttools.AgentName); ok {
		return p, true
	}
	self, err := os.Executable()
	if err != nil {
		return "", false
	}
	return installedAgent(filepath.Dir(self))
}

// installedAgent finds the agent of an installation whose programs are in binDir.
func installedAgent(binDir string) (string, bool) {
	p := filepath.Join(filepath.Dir(binDir), installedAgentDir, guesttools.AgentName)
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return "", false
	}
	return p, true
}
