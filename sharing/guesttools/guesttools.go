// Package guesttools builds Paddock's guest tools: a small ISO 9660 image holding the static paddock-agent, a
// systemd unit that runs its daemon, an install script and a README. A user inserts the image as a VM's CD-ROM,
// mounts it in the guest and runs the script.
package guesttools

import (
	"fmt"
	"io"
	"os"
	"time"
)

// VolumeID is the image's volume label.
const VolumeID = "PADDOCK_TOOLS"

// Names of the files in the image.
const (
	AgentName   = "paddock-agent"
	UnitName    = "paddock-agent.service"
	InstallName = "install.sh"
	ReadmeName  = "README.txt"
)

// MaxAgentSize bounds the agent binary read into the image.
const MaxAgentSize = 64 << 20

const unit = `[Unit]
Description=Paddock guest agent (clipboard channel to the host)
ConditionPathExists=/dev/virtio-ports/org.paddock.agent.0

[Service]
ExecStart=/usr/local/bin/paddock-agent daemon
Restart=always
RestartSec=2
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
RuntimeDirectory=paddock-agent
RuntimeDirectoryMode=0700
PrivateNetwork=yes

[Install]
WantedBy=multi-user.target
`

// The port appears only while the VM's clipboard is on: udev starts the agent when it does.
const udevRule = `SUBSYSTEM=="virtio-ports", ATTR{name}=="org.paddock.agent.0", TAG+="systemd", ENV{SYSTEMD_WANTS}+="paddock-agent.service"
`

const install = `#!/bin/sh
# Installs Paddock's guest agent: run as root from the mounted guest tools disc (sh /mnt/install.sh).
set -eu
here=$(dirname "$0")
if [ "$(id -u)" != 0 ]; then
	echo "install.sh: run me as root" >&2
	exit 1
fi
agent="$here/paddock-agent"
[ -f "$agent" ] || agent="$here/paddock_" # a mount without Rock Ridge shows the 8.3 names
install -m 0755 "$agent" /usr/local/bin/paddock-agent
if [ -d /run/systemd/system ]; then
	install -m 0644 "$here/paddock-agent.service" /etc/systemd/system/paddock-agent.service 2>/dev/null ||
		install -m 0644 "$here/paddock_.ser" /etc/systemd/system/paddock-agent.service
	mkdir -p /etc/udev/rules.d
	cat > /etc/udev/rules.d/60-paddock-agent.rules <<'RULE'
` + udevRule + `RULE
	udevadm control --reload 2>/dev/null || true
	systemctl daemon-reload
	systemctl enable paddock-agent.service
	if [ -e /dev/virtio-ports/org.paddock.agent.0 ]; then
		systemctl restart paddock-agent.service
	fi
	echo "paddock-agent installed; it runs whenever the VM's clipboard is on."
else
	echo "paddock-agent installed in /usr/local/bin. This system has no systemd: start 'paddock-agent daemon' at boot."
fi
`

const readme = `Paddock guest tools
===================

paddock-agent lets this VM share clipboard text with the host, as the VM's clipboard setting
allows (off, host to guest, guest to host, or both; each transfer may ask first on the host).

Install (Linux guests, as root):

    mount /dev/sr0 /mnt        # or wherever the disc is
    sh /mnt/install.sh
    umount /mnt

Then turn the clipboard on for this VM on the host:

    paddock clipboard VMNAME --mode both

In the guest:

    paddock-agent clip get         print the host's clipboard
    paddock-agent clip set TEXT    offer TEXT to the host ("-" reads standard input)

While the agent's service runs, it keeps the clipboard the host sets in /run/paddock-agent/clipboard.
`

// Files are the guest tools' files around agent, the paddock-agent binary.
func Files(agent []byte) []File {
	return []File{
		{Name: AgentName, Mode: 0o755, Data: agent},
		{Name: UnitName, Mode: 0o644, Data: []byte(unit)},
		{Name: InstallName, Mode: 0o755, Data: []byte(install)},
		{Name: ReadmeName, Mode: 0o644, Data: []byte(readme)},
	}
}

// Build writes the guest tools image to w, with the agent binary read from agentPath.
func Build(w io.Writer, agentPath string, now time.Time) error {
	f, err := os.Open(agentPath)
	if err != nil {
		return fmt.Errorf("guest tools: the agent: %w", err)
	}
	defer f.Close()
	agent, err := io.ReadAll(io.LimitReader(f, MaxAgentSize+1))
	if err != nil {
		return fmt.Errorf("guest tools: reading %s: %w", agentPath, err)
	}
	if len(agent) > MaxAgentSize {
		return fmt.Errorf("guest tools: %s is over %d MiB", agentPath, MaxAgentSize>>20)
	}
	if len(agent) < 4 || string(agent[:4]) != "\x7fELF" {
		return fmt.Errorf("guest tools: %s is not a Linux program", agentPath)
	}
	return WriteISO(w, VolumeID, Files(agent), now)
}
