package vmm

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"paddock/engine/control"
)

// startTimeout bounds how long Start waits for a new VMM's control socket.
const startTimeout = 20 * time.Second

// Start runs spec in a new `PROGRAM vmm` process (program is the paddock executable) of its own session, so it
// outlives the caller (a GUI or a command). The VMM's own messages go to logPath. Start returns once the VM
// answers on its control socket, or with the VMM's last words if it exits first.
//
// shareConns are the connections to the share servers of spec.Shares, in the same order (see
// shareserver.Spawn): the VMM inherits them; they stay the caller's to close once Start returns.
func Start(program string, spec Spec, logPath string, shareConns ...*os.File) (pid int, err error) {
	spec.Version = SpecVersion
	if err := control.ValidateName(spec.Name); err != nil {
		return 0, err
	}
	if len(shareConns) != len(spec.Shares) {
		return 0, fmt.Errorf("%d shares and %d share connections", len(spec.Shares), len(shareConns))
	}
	spec.Shares = append([]ShareSpec(nil), spec.Shares...)
	for i := range spec.Shares {
		if shareConns[i] == nil {
			return 0, fmt.Errorf("share %q: no connection", spec.Shares[i].Tag)
		}
		spec.Shares[i].FD = firstShareFD + i
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return 0, fmt.Errorf("encode spec: %w", err)
	}
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return 0, fmt.Errorf("VMM log: %w", err)
	}
	defer logFile.Close()
	specR, specW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(program, "vmm", "--spec", "3")
	cmd.ExtraFiles = append([]*os.File{specR}, shareConns...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	start := logOffset(logFile)
	if err := cmd.Start(); err != nil {
		specR.Close()
		specW.Close()
		return 0, fmt.Errorf("start the VMM: %w", err)
	}
	specR.Close()
	_, werr := specW.Write(raw)
	specW.Close()
	if werr != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, fmt.Errorf("send the spec: %w", werr)
	}
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		exited <- err
		noteExit(logPath, err)
	}()
	deadline := time.Now().Add(startTimeout)
	for {
		if c, err := control.Dial(control.SocketPath(spec.Name)); err == nil {
			c.Close()
			return cmd.Process.Pid, nil
		}
		select {
		case err := <-exited:
			return 0, fmt.Errorf("the VMM exited before the VM started (%v): %s", err, lastWords(logPath, start))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return 0, errors.New("the VMM did not open its control socket in time: " + lastWords(logPath, start))
		}
	}
}

// noteExit records in the VMM's log how its process ended when a signal ended it: a VMM killed by a
// signal (its sandbox's SIGSYS, an OOM kill, kill -9) cannot say so itself. Only the process that started the VMM
// can see this, and only while it runs.
func noteExit(logPath string, err error) {
	if err == nil {
		return
	}
	f, ferr := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0o600)
	if ferr != nil {
		return
	}
	defer f.Close()
	// A VMM that exited with a status has logged why itself.
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return
	}
	why := "killed by signal " + ws.Signal().String()
	if ws.Signal() == syscall.SIGSYS {
		why = "killed by its sandbox (a system call outside its allow-list)"
	}
	fmt.Fprintf(f, "time=%s level=ERROR msg=%q err=%q\n", time.Now().Format(time.RFC3339Nano), ProcessEndedMsg, why)
}

// ProcessEndedMsg marks the log line noteExit writes.
const ProcessEndedMsg = "VM process ended"

func logOffset(f *os.File) int64 {
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// lastWords is what the VMM wrote to its log since offset, on one line.
func lastWords(path string, offset int64) string {
	raw, err := os.ReadFile(path)
	if err != nil || int64(len(raw)) < offset {
		return "(no log)"
	}
	s := strings.TrimSpace(string(raw[offset:]))
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	if s == "" {
		return "(no log)"
	}
	return strings.Join(strings.Fields(s), " ")
}
