package testenv

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MedianOf is the median of field over samples: the middle value, or the upper of the two middle ones for an
// even count. samples must not be empty.
func MedianOf[S any, V cmp.Ordered](samples []S, field func(S) V) V {
	vs := make([]V, len(samples))
	for i, s := range samples {
		vs[i] = field(s)
	}
	slices.Sort(vs)
	return vs[len(vs)/2]
}

// Ratio is a / b, for comparing two timings.
func Ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

// PeakRSS is a process's peak resident set size (VmHWM in /proc/PID/status), in KiB.
func PeakRSS(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}
