package machine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"paddock/engine/control"
	"paddock/engine/virtio/scsi"
)

// The CD-ROM drive's medium can change while the VM runs, as a user inserts or ejects an ISO. The sandboxed VMM
// cannot open the image: the caller opens it and passes the open file (over the control socket, with
// control.OpChangeMedia). The machine keeps it for later boots, as it keeps the disks.

// errNoDrive means the VM has no CD-ROM drive to put a medium in.
var errNoDrive = errors.New("this VM has no CD-ROM drive (it was started without an ISO or firmware boot)")

// hasDrive says whether boots get a CD-ROM drive: with an ISO, or empty for a firmware boot, as a PC has one.
// The caller holds m.mu.
func (m *Machine) hasDrive() bool { return m.iso != nil || m.cfg.usesFirmware() }

// ChangeMedia puts the image open as f in the CD-ROM drive, replacing what is there, or, with f nil, ejects it.
// The machine takes f over (also on error). The guest sees the change as from a real drive: a unit attention, or
// "medium not present".
func (m *Machine) ChangeMedia(f *os.File) error {
	m.mu.Lock()
	drive := m.hasDrive()
	m.mu.Unlock()
	if !drive {
		if f != nil {
			f.Close()
		}
		return errNoDrive
	}
	var dev *os.File
	if f != nil {
		if err := scsi.CheckImage(f); err != nil {
			f.Close()
			return err
		}
		var err error
		if dev, err = dupFile(f); err != nil {
			f.Close()
			return fmt.Errorf("insert %s: %w", f.Name(), err)
		}
	}
	m.mu.Lock()
	old := m.iso
	m.iso = f
	m.mu.Unlock()
	if old != nil {
		old.Close()
	}
	err := m.withBoot(func(b *boot) error {
		if b.cd == nil {
			return nil
		}
		if dev == nil {
			b.cd.Eject()
			return nil
		}
		err := b.cd.InsertFile(dev)
		dev = nil
		return err
	})
	if dev != nil {
		dev.Close()
	}
	if errors.Is(err, errNotRunning) {
		return nil // the next boot's drive gets it
	}
	return err
}

// MediaPath is the name of the image in the drive, or "" when it is empty.
func (m *Machine) MediaPath() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.iso == nil {
		return ""
	}
	return m.iso.Name()
}

// HandleFiles serves the control requests that come with open files.
func (m *Machine) HandleFiles(op string, args json.RawMessage, files []*os.File) (any, error) {
	if op == control.OpAddShare {
		return m.handleAddShare(args, files)
	}
	if op != control.OpChangeMedia {
		for _, f := range files {
			f.Close()
		}
		return nil, fmt.Errorf("%q takes no files", op)
	}
	if len(files) != 1 {
		for _, f := range files {
			f.Close()
		}
		return nil, errors.New("change-media takes one image, or none to eject")
	}
	var a control.ChangeMediaArgs
	if err := decodeArgs(args, &a); err != nil {
		files[0].Close()
		return nil, err
	}
	f := files[0]
	if a.Name != "" {
		f = renamed(f, a.Name)
	}
	if err := m.ChangeMedia(f); err != nil {
		return nil, err
	}
	return control.Media{ISO: m.MediaPath()}, nil
}

// renamed gives an open file the name the caller knows it by (for status and logs), on a descriptor of its own.
func renamed(f *os.File, name string) *os.File {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return f
	}
	f.Close()
	return os.NewFile(uintptr(fd), name)
}

// catchUpMedia gives a new boot's drive the medium the user put in (or took out) while the boot was being built,
// after the boot had taken the previous one.
func (m *Machine) catchUpMedia(b *boot) {
	m.mu.Lock()
	var f *os.File
	var err error
	if m.iso != nil {
		f, err = dupFile(m.iso)
	}
	b.cdSource = m.iso
	m.mu.Unlock()
	switch {
	case err != nil:
		m.log.Warn("CD-ROM: the new medium did not reach the drive", "err", err)
	case f == nil:
		b.cd.Eject()
	default:
		if err := b.cd.InsertFile(f); err != nil {
			m.log.Warn("CD-ROM: the new medium did not reach the drive", "err", err)
		}
	}
}
