//go:build linux && !amd64

package jail

import "errors"

// ErrSeccompUnavailable means the kernel cannot run the seccomp filter.
var ErrSeccompUnavailable = errors.New("seccomp is unavailable")

const unsupported = "the jail's seccomp filter is written for x86-64 only"

func probeSeccomp() (SeccompStatus, bool) { return SeccompStatus{Reason: unsupported}, false }

func apply(Policy) (Report, error) {
	return Probe(), errors.New(unsupported)
}
