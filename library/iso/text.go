package iso

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// cleanID turns a space- or NUL-padded identifier field into display text.
func cleanID(field []byte) string {
	return cleanText(field, len(field))
}

// cleanText keeps at most maxRunes printable characters of b: invalid UTF-8 and control characters go, runs of
// spaces become one, and the ends are trimmed, so nothing from the file can disturb the text it is shown in.
func cleanText(b []byte, maxRunes int) string {
	var sb strings.Builder
	space, n := false, 0
	for len(b) > 0 && n < maxRunes {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case r == utf8.RuneError && size <= 1:
			continue
		case unicode.IsSpace(r) || r == 0:
			space = true
			continue
		case !unicode.IsPrint(r):
			continue
		}
		if space && sb.Len() > 0 {
			sb.WriteByte(' ')
			n++
		}
		space = false
		sb.WriteRune(r)
		n++
	}
	return sb.String()
}
