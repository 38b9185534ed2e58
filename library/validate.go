package library

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Limits on what the library accepts.
const (
	MaxNameLen     = 64
	MinCPUs        = 1
	MaxCPUs        = 255
	MinMemoryMiB   = 64
	MaxMemoryMiB   = 4 << 20 // 4 TiB: beyond any host Paddock runs on, small enough to never overflow
	MaxCmdlineLen  = 4096
	MaxOSLen       = 64
	MaxPathLen     = 4096
	MinScreenW     = 320
	MinScreenH     = 200
	MaxScreenSide  = 8192
	MinDiskBytes   = 1 << 20
	MaxDiskBytes   = 64 << 40
	MaxLastErrLen  = 4096
	DefaultMaxClip = 1 << 20
	MaxClipBytes   = 64 << 20
)

// newID returns a random (version 4) UUID.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// isID says whether s has the shape of an id newID makes (lower-case hex UUID). Names never have that shape, so
// "id or name" lookups are unambiguous, and an id is safe to use as a directory name.
func isID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// ValidateName checks a VM name: 1 to 64 of ASCII letters, digits, space, '.', '_' and '-', not starting or ending
// with a space, and not shaped like a VM id.
func ValidateName(name string) error {
	if name == "" {
		return invalid("name", "must not be empty")
	}
	if len(name) > MaxNameLen {
		return invalid("name", "must be at most %d characters", MaxNameLen)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == ' ' || r == '.' || r == '_' || r == '-'
		if !ok {
			return invalid("name", "may contain only letters, digits, spaces, '.', '_' and '-' (not %q)", r)
		}
	}
	if name[0] == ' ' || name[len(name)-1] == ' ' {
		return invalid("name", "must not start or end with a space")
	}
	if isID(strings.ToLower(name)) {
		return invalid("name", "must not look like a VM id")
	}
	return nil
}

// checkText bounds a free-text field and keeps control characters (and so terminal escapes) out of it.
func checkText(field, s string, maxLen int) error {
	if len(s) > maxLen {
		return invalid(field, "must be at most %d bytes", maxLen)
	}
	if !utf8.ValidString(s) {
		return invalid(field, "must be UTF-8 text")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return invalid(field, "must not contain control characters")
		}
	}
	return nil
}

// checkPath requires an absolute, clean-able path with no NUL; empty is allowed when optional.
func checkPath(field, p string, optional bool) (string, error) {
	if p == "" {
		if optional {
			return "", nil
		}
		return "", invalid(field, "is required")
	}
	if err := checkText(field, p, MaxPathLen); err != nil {
		return "", err
	}
	if !filepath.IsAbs(p) {
		return "", invalid(field, "must be an absolute path (got %q)", p)
	}
	return filepath.Clean(p), nil
}

// cleanLastError makes an error text safe to store: it comes from a VMM and must never make SetState fail.
func cleanLastError(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > MaxLastErrLen {
		s = s[:MaxLastErrLen]
		s = strings.ToValidUTF8(s, "") // the cut may split a character
	}
	return s
}
