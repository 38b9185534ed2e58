// Command linuxboot compares how fast Paddock and QEMU/KVM (-M microvm) boot Debian's stock kernel with the
// Linux test guest's initramfs (tests/guest/build-linux-guest.sh) to its /init's "PADDOCK-TEST boot PASS" line on
// the serial console. Runs alternate between the VMMs; medians and ratios are printed. A stock kernel needs
// hardware virtualization: elsewhere it says so and exits 0, unless -force.
//
// Usage: go run ./tests/bench/linuxboot [-runs N] [-memory MIB] [-pc] [-quiet] [-force]
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"paddock/tests/testenv"
)

// marker is what the guest's /init prints once userspace runs the boot test.
const marker = "PADDOCK-TEST boot PASS"

type options struct {
	runs    int
	memMiB  int
	timeout time.Duration
	pc      bool
	quiet   bool
	force   bool
}

type sample struct {
	firstByte time.Duration // process start to the first serial byte
	boot      time.Duration // process start to the init's marker
	cpu       time.Duration // user + system CPU of the VMM process, start to kill (right after the marker)
	peakRSS   int64         // KiB
}

type vmm struct {
	name string
	argv []string
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 10, "boots per VMM")
	flag.IntVar(&o.memMiB, "memory", 512, "guest memory in MiB")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "give up on a boot after this long")
	flag.BoolVar(&o.pc, "pc", false, "also compare with qemu -M pc (SeaBIOS and its option ROM load the kernel)")
	flag.BoolVar(&o.quiet, "quiet", false, "boot with \"quiet\", so the serial console carries only the init's lines")
	flag.BoolVar(&o.force, "force", false, "run even without hardware virtualization")
	flag.Parse()
	if why := whyNot(); why != "" {
		fmt.Printf("linuxboot: cannot run meaningfully here: %s\n", why)
		if !o.force {
			return
		}
		fmt.Println("linuxboot: -force: running anyway")
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "linuxboot:", err)
		os.Exit(1)
	}
}

// whyNot says why this host cannot boot a stock kernel at a speed worth measuring, or "" if it can.
func whyNot() string { return testenv.WhyNoStockKernel() }

func run(o options) error {
	dir, err := os.MkdirTemp("", "paddock-linuxboot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	paddock, guest, err := build(dir)
	if err != nil {
		return err
	}
	kernel, initrd := filepath.Join(guest, "vmlinuz"), filepath.Join(guest, "initramfs.cpio.gz")
	cmdline := "console=ttyS0 paddock.test=boot"
	if o.quiet {
		cmdline += " quiet"
	}
	mem := strconv.Itoa(o.memMiB)
	vmms := []vmm{{"paddock", []string{paddock, "run", "--kernel", kernel, "--initrd", initrd, "--append", cmdline,
		"--memory", mem, "--cpus", "1", "--resolution", "1024x768", "--serial", "stdio"}}}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		fmt.Println("qemu-system-x86_64 not found: install Debian's qemu-system-x86 to compare")
	} else {
		// microvm (QEMU 7.2): qboot loads the bzImage and initrd; ACPI is on by default (MADT, and the DSDT
		// describes the ISA serial port at 0x3f8, IRQ 4), so console=ttyS0 needs nothing more.
		common := []string{"-accel", "kvm", "-cpu", "host", "-m", mem, "-smp", "1",
			"-kernel", kernel, "-initrd", initrd, "-append", cmdline,
			"-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio"}
		vmms = append(vmms, vmm{"qemu -M microvm", append([]string{qemu, "-M", "microvm"}, common...)})
		if o.pc {
			vmms = append(vmms, vmm{"qemu -M pc", append([]string{qemu, "-M", "pc"}, common...)})
		}
	}
	for _, v := range vmms {
		fmt.Printf("%s: %s\n", v.name, strings.Join(v.argv, " "))
	}
	results := map[string][]sample{}
	for i := 0; i < o.runs; i++ {
		for _, v := range vmms {
			s, err := measure(v.argv, o.timeout)
			if err != nil {
				return fmt.Errorf("%s, run %d: %w", v.name, i+1, err)
			}
			results[v.name] = append(results[v.name], s)
		}
	}
	fmt.Printf("\nboot of %s to its init's marker, %d runs each, guest memory %d MiB (median)\n",
		filepath.Base(guest), o.runs, o.memMiB)
	fmt.Printf("%-16s %12s %12s %12s %12s\n", "VMM", "first byte", "to init", "host CPU", "peak RSS")
	base := medians(results["paddock"])
	for _, v := range vmms {
		m := medians(results[v.name])
		fmt.Printf("%-16s %12s %12s %12s %8d MiB", v.name, round(m.firstByte), round(m.boot), round(m.cpu), m.peakRSS>>10)
		if v.name != "paddock" {
			fmt.Printf("   paddock/this: to init %.2f, CPU %.2f", testenv.Ratio(base.boot, m.boot), testenv.Ratio(base.cpu, m.cpu))
		}
		fmt.Println()
	}
	return nil
}

func round(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }

func medians(ss []sample) sample {
	return sample{
		firstByte: testenv.MedianOf(ss, func(s sample) time.Duration { return s.firstByte }),
		boot:      testenv.MedianOf(ss, func(s sample) time.Duration { return s.boot }),
		cpu:       testenv.MedianOf(ss, func(s sample) time.Duration { return s.cpu }),
		peakRSS:   testenv.MedianOf(ss, func(s sample) int64 { return s.peakRSS }),
	}
}

// build builds paddock into dir and the Linux guest (cached by Debian package version); it returns the paddock
// binary and the guest's directory.
func build(dir string) (paddock, guest string, err error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if err != nil || root == "." || root == "" {
		return "", "", errors.New("run this inside the paddock module (go run ./tests/bench/linuxboot)")
	}
	if paddock, err = testenv.BuildPaddock(dir); err != nil {
		return "", "", err
	}
	script := filepath.Join(root, "tests", "guest", "build-linux-guest.sh")
	if guest, err = testenv.BuildLinuxGuest(script, os.Stderr); err != nil {
		return "", "", err
	}
	return paddock, guest, nil
}

// measure starts argv, times its first serial byte and the init's marker, reads its peak memory, kills it and
// collects its CPU time. The serial output is kept to explain a failure.
func measure(argv []string, timeout time.Duration) (sample, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = nil // /dev/null: nothing typed on the serial console
	out, err := cmd.StdoutPipe()
	if err != nil {
		return sample{}, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	type event struct {
		first bool
		at    time.Time
		err   error
	}
	events := make(chan event, 2)
	var serial strings.Builder
	go func() {
		r := bufio.NewReader(out)
		sawFirst := false
		var line []byte
		for {
			b, err := r.ReadByte()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = errors.New("the VMM ended")
				}
				events <- event{err: err}
				return
			}
			if !sawFirst {
				sawFirst = true
				events <- event{first: true, at: time.Now()}
			}
			line = append(line, b)
			if b == '\n' || len(line) > 4096 {
				serial.Write(line)
				found := strings.Contains(string(line), marker)
				line = line[:0]
				if found {
					events <- event{at: time.Now()}
					io.Copy(io.Discard, r) // keep draining until the kill
					return
				}
			}
		}
	}()
	var s sample
	deadline := time.After(timeout)
	stop := func() {
		cmd.Process.Kill()
		cmd.Wait()
	}
	for s.boot == 0 {
		select {
		case e := <-events:
			switch {
			case e.err != nil:
				stop()
				return s, fmt.Errorf("no %q: %v\n--- serial ---\n%s\n--- stderr ---\n%s", marker, e.err, tail(serial.String()), stderr.String())
			case e.first:
				s.firstByte = e.at.Sub(start)
			default:
				s.boot = e.at.Sub(start)
			}
		case <-deadline:
			stop()
			return s, fmt.Errorf("no %q within %v\n--- stderr ---\n%s", marker, timeout, stderr.String())
		}
	}
	peak, err := testenv.PeakRSS(cmd.Process.Pid)
	stop()
	if err != nil {
		return s, err
	}
	s.peakRSS = peak
	s.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return s, nil
}

// tail is the end of a serial log, enough to see where a boot stopped.
func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}
