package library

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Tests that need a second process re-run this test binary with childRoleEnv set; TestMain sends it to the role.
const childRoleEnv = "PADDOCK_LIBRARY_TEST_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childRoleEnv); role != "" {
		if err := runChild(role, os.Getenv("PADDOCK_HOME"), os.Getenv("CHILD_ARG")); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runChild(role, home, arg string) error {
	ctx := context.Background()
	l, err := Open(home)
	if err != nil {
		return err
	}
	defer l.Close()
	switch role {
	case "writer":
		// Busy the library the way a CLI does while the GUI is busy too: create, edit, log.
		for i := range 40 {
			vm, err := l.CreateVM(ctx, basicSpec(fmt.Sprintf("%s-%d", arg, i)))
			if err != nil {
				return err
			}
			if _, err := l.UpdateVM(ctx, vm.ID, VMUpdate{CPUs: new(3)}); err != nil {
				return err
			}
			if err := l.SetState(ctx, vm.ID, StateRunning, ""); err != nil {
				return err
			}
			if _, err := l.AppendAudit(ctx, AuditEntry{VMID: vm.ID, Channel: "clipboard", Direction: "host-to-guest",
				Decision: DecisionAllowed}); err != nil {
				return err
			}
			if _, err := l.ListVMs(ctx); err != nil {
				return err
			}
		}
		return nil
	case "killed":
		// Begin a big write and stop before committing. A tiny page cache makes SQLite spill the uncommitted
		// pages into the WAL, so the parent really has to ignore them.
		tx, err := l.writer.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`PRAGMA cache_size = 8`); err != nil {
			return err
		}
		for i := range 3000 {
			id, _ := newID()
			if _, err := tx.Exec(`INSERT INTO vms (id, name, cpus, memory_mib, boot, cmdline, created_ms, updated_ms)
				VALUES (?, ?, 1, 64, 'firmware', ?, 0, 0)`, id, fmt.Sprintf("uncommitted-%d", i),
				strings.Repeat("x", 500)); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`DELETE FROM vms WHERE name = 'committed-1'`); err != nil {
			return err
		}
		fmt.Println("ready")
		time.Sleep(time.Minute) // the parent kills us here
		return fmt.Errorf("not killed")
	}
	return fmt.Errorf("unknown role %q", role)
}

func startChild(t *testing.T, home, role, arg string) (*exec.Cmd, *bufio.Reader, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childRoleEnv+"="+role, "PADDOCK_HOME="+home, "CHILD_ARG="+arg)
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewReader(out), stderr
}

func TestProcessesWriteAtOnce(t *testing.T) {
	home := t.TempDir()
	l, err := Open(home)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()

	const children = 3
	type child struct {
		cmd    *exec.Cmd
		stderr *strings.Builder
	}
	var kids []child
	for i := range children {
		cmd, _, stderr := startChild(t, home, "writer", "proc"+strconv.Itoa(i))
		kids = append(kids, child{cmd, stderr})
	}
	// This process writes at the same time, from two goroutines.
	var wg sync.WaitGroup
	parentErrs := make([]error, 2)
	for g := range parentErrs {
		wg.Go(func() {
			for i := range 40 {
				vm, err := l.CreateVM(ctx, basicSpec(fmt.Sprintf("parent%d-%d", g, i)))
				if err == nil {
					_, err = l.AppendAudit(ctx, AuditEntry{VMID: vm.ID, Channel: "folder", Direction: "guest-to-host",
						Decision: DecisionDenied})
				}
				if err != nil {
					parentErrs[g] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for g, err := range parentErrs {
		if err != nil {
			t.Errorf("parent writer %d: %v", g, err)
		}
	}
	for i, k := range kids {
		if err := k.cmd.Wait(); err != nil {
			t.Errorf("child %d: %v: %s", i, err, k.stderr)
		}
	}
	vms, err := l.ListVMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := (children + 2) * 40
	if len(vms) != want {
		t.Errorf("%d VMs, want %d", len(vms), want)
	}
	for _, vm := range vms {
		if strings.HasPrefix(vm.Name, "proc") && (vm.CPUs != 3 || vm.State != StateRunning) {
			t.Errorf("child's VM %s: cpus %d state %s", vm.Name, vm.CPUs, vm.State)
		}
	}
	audit, _ := l.ListAudit(ctx, AuditQuery{Limit: 1000})
	if len(audit) != want {
		t.Errorf("%d audit entries, want %d", len(audit), want)
	}
}

func TestKilledWriterLeavesLibraryConsistent(t *testing.T) {
	home := t.TempDir()
	ctx := context.Background()
	l, err := Open(home)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"committed-1", "committed-2"} {
		mustCreate(t, l, basicSpec(name))
	}
	l.Close()

	cmd, out, stderr := startChild(t, home, "killed", "")
	line, err := out.ReadString('\n')
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not get ready: %q %v: %s", line, err, stderr)
	}
	if st, err := os.Stat(filepath.Join(home, DBName+"-wal")); err != nil || st.Size() < 256<<10 {
		t.Errorf("the uncommitted transaction did not reach the WAL (%v, %v): the test would prove little", st, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	l, err = Open(home)
	if err != nil {
		t.Fatalf("reopening after a killed writer: %v", err)
	}
	defer l.Close()
	vms, err := l.ListVMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vms) != 2 || vms[0].Name != "committed-1" || vms[1].Name != "committed-2" {
		names := []string{}
		for _, vm := range vms[:min(len(vms), 5)] {
			names = append(names, vm.Name)
		}
		t.Errorf("after the kill: %d VMs %v, want exactly the two committed ones", len(vms), names)
	}
	var check string
	if err := l.reader.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check = %q, %v", check, err)
	}
	// And the library takes writes again at once: the dead writer's lock died with it.
	if _, err := l.CreateVM(ctx, basicSpec("after")); err != nil {
		t.Errorf("writing after the kill: %v", err)
	}
}
