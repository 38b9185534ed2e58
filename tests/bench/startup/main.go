// Command startup compares how fast, and at what host cost, Paddock and QEMU/KVM start the same small guest:
// from process start to the guest's first serial byte. Runs alternate between the VMMs; medians and ratios are
// printed. Usage: go run ./tests/bench/startup [-runs N] [-memory MIB]
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"paddock/tests/testenv"
)

type sample struct {
	firstByte time.Duration
	cpu       time.Duration // user + system CPU of the VMM process, start to kill
	overhead  int64         // peak RSS minus resident guest RAM, in KiB
}

type vmm struct {
	name string
	argv []string
}

func main() {
	runs := flag.Int("runs", 15, "runs per VMM")
	memMiB := flag.Int("memory", 128, "guest memory in MiB")
	flag.Parse()
	if err := run(*runs, *memMiB); err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		os.Exit(1)
	}
}

func run(runs, memMiB int) error {
	dir, err := os.MkdirTemp("", "paddock-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	guest, paddock, err := build(dir)
	if err != nil {
		return err
	}
	mem := strconv.Itoa(memMiB)
	runArgs := []string{"run", "--kernel", guest, "--memory", mem, "--serial", "stdio"}
	// `paddock run` hands over to the VMM program, paddock-vmm; the second row is that program started directly.
	vmms := []vmm{
		{"paddock", append([]string{paddock}, runArgs...)},
		{"paddock-vmm", append([]string{filepath.Join(filepath.Dir(paddock), "paddock-vmm")}, runArgs...)},
	}
	if qemu, err := exec.LookPath("qemu-system-x86_64"); err == nil {
		q := []string{qemu, "-accel", "kvm", "-m", mem, "-kernel", guest, "-display", "none", "-serial", "stdio",
			"-nodefaults", "-no-user-config"}
		vmms = append(vmms,
			vmm{"qemu -M microvm", append([]string{q[0], "-M", "microvm"}, q[1:]...)},
			vmm{"qemu -M pc", append([]string{q[0], "-M", "pc"}, q[1:]...)})
	} else {
		fmt.Println("qemu-system-x86_64 not found: install Debian's qemu-system-x86 to compare")
	}
	results := map[string][]sample{}
	for i := 0; i < runs; i++ {
		for _, v := range vmms {
			s, err := measure(v.argv, memMiB)
			if err != nil {
				return fmt.Errorf("%s: %w", v.name, err)
			}
			results[v.name] = append(results[v.name], s)
		}
	}
	fmt.Printf("start-up to first serial byte, %d runs each, guest memory %d MiB (median)\n", runs, memMiB)
	fmt.Printf("%-16s %12s %12s %16s\n", "VMM", "wall", "host CPU", "RSS - guest RAM")
	base := medians(results["paddock"])
	for _, v := range vmms {
		m := medians(results[v.name])
		fmt.Printf("%-16s %12s %12s %13d KiB", v.name, m.firstByte.Round(10*time.Microsecond), m.cpu.Round(10*time.Microsecond), m.overhead)
		if strings.HasPrefix(v.name, "qemu") {
			lean := medians(results["paddock-vmm"])
			fmt.Printf("   paddock/this: wall %.2f, CPU %.2f, memory %.2f; paddock-vmm/this: wall %.2f, CPU %.2f",
				testenv.Ratio(base.firstByte, m.firstByte), testenv.Ratio(base.cpu, m.cpu), float64(base.overhead)/float64(m.overhead),
				testenv.Ratio(lean.firstByte, m.firstByte), testenv.Ratio(lean.cpu, m.cpu))
		}
		fmt.Println()
	}
	return nil
}

func medians(ss []sample) sample {
	return sample{
		firstByte: testenv.MedianOf(ss, func(s sample) time.Duration { return s.firstByte }),
		cpu:       testenv.MedianOf(ss, func(s sample) time.Duration { return s.cpu }),
		overhead:  testenv.MedianOf(ss, func(s sample) int64 { return s.overhead }),
	}
}

// build assembles the guest and builds paddock and paddock-vmm into dir.
func build(dir string) (guest, paddock string, err error) {
	here, err := filepath.Abs(filepath.Dir(sourceFile()))
	if err != nil {
		return "", "", err
	}
	src, script := filepath.Join(here, "pvh.S"), filepath.Join(here, "pvh.ld")
	obj, guest := filepath.Join(dir, "pvh.o"), filepath.Join(dir, "pvh.elf")
	for _, argv := range [][]string{
		{"as", "--64", "-o", obj, src},
		{"ld", "-m", "elf_x86_64", "-T", script, "-o", guest, obj},
	} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, out)
		}
	}
	if paddock, err = testenv.BuildPaddock(dir); err != nil {
		return "", "", err
	}
	if _, err = testenv.BuildLeanVMM(dir); err != nil {
		return "", "", err
	}
	return guest, paddock, nil
}

// sourceFile finds this directory whether run with go run from the repo root or elsewhere in it.
func sourceFile() string {
	for _, c := range []string{"tests/bench/startup/main.go", "startup/main.go", "main.go"} {
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	return "tests/bench/startup/main.go"
}

// measure starts argv, waits for its first stdout byte, reads its memory, kills it and collects its CPU time.
func measure(argv []string, memMiB int) (sample, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return sample{}, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	got := make(chan error, 1)
	go func() {
		var b [1]byte
		_, err := out.Read(b[:])
		got <- err
	}()
	var s sample
	select {
	case err := <-got:
		s.firstByte = time.Since(start)
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return s, fmt.Errorf("no serial output: %w", err)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return s, errors.New("no serial output within 60 s")
	}
	peak, guest, err := memory(cmd.Process.Pid, uint64(memMiB)<<10)
	cmd.Process.Kill()
	cmd.Wait()
	if err != nil {
		return s, err
	}
	s.overhead = peak - guest
	s.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return s, nil
}

// memory returns a process's peak RSS and the resident part of its guest RAM mapping (the largest anonymous
// mapping at least as big as the guest's memory), both in KiB.
func memory(pid int, guestKiB uint64) (peak, guest int64, err error) {
	if peak, err = testenv.PeakRSS(pid); err != nil {
		return 0, 0, err
	}
	smaps, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return 0, 0, err
	}
	defer smaps.Close()
	sc := bufio.NewScanner(smaps)
	var size uint64
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "Size:":
			size, _ = strconv.ParseUint(f[1], 10, 64)
		case "Rss:":
			if size >= guestKiB && size <= guestKiB+8<<10 {
				if rss, _ := strconv.ParseInt(f[1], 10, 64); rss > guest {
					guest = rss
				}
			}
		}
	}
	return peak, guest, sc.Err()
}
