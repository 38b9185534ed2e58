package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartXvfb starts a private X server, lets Xvfb pick a free display number, and points DISPLAY at it for the rest
// of the test, at the end of which the server is killed. The screen is width x height at 24 bits, so guest
// colours reach a capture unchanged. It returns the display, ":N". The server never resets: by default Xvfb starts
// afresh whenever its last client leaves, and a program that checks the display before opening its window (as
// Paddock does) would then find the server gone for a moment.
func StartXvfb(tb testing.TB, width, height int) string {
	tb.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var stderr SyncBuffer
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", fmt.Sprintf("%dx%dx24", width, height),
		"-nolisten", "tcp", "+xinerama", "-noreset")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		tb.Fatalf("start Xvfb: %v", err)
	}
	w.Close()
	tb.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	number := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		number <- strings.TrimSpace(line)
	}()
	select {
	case n := <-number:
		if _, err := strconv.Atoi(n); err != nil {
			tb.Fatalf("Xvfb did not report a display number (%q): %s", n, stderr.String())
		}
		display := ":" + n
		tb.Setenv("DISPLAY", display)
		return display
	case <-time.After(20 * time.Second):
		tb.Fatalf("Xvfb did not start within 20s: %s", stderr.String())
	}
	return ""
}
