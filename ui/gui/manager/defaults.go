package manager

import (
	"fmt"
	"strings"

	"paddock/library"
)

// suggestName turns a label ("Debian 12.5.0 netinst") into a VM name no VM in taken has yet, keeping only the
// characters a name may hold.
func suggestName(label string, taken func(string) bool) string {
	var b strings.Builder
	for _, r := range label {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		switch {
		case ok:
			b.WriteRune(r)
		case r == ' ' || r == ',' || r == '/' || r == '(' || r == ')':
			b.WriteByte(' ')
		}
	}
	base := strings.Join(strings.Fields(b.String()), " ")
	if len(base) > library.MaxNameLen-4 {
		base = strings.TrimSpace(base[:library.MaxNameLen-4])
	}
	if base == "" || library.ValidateName(base) != nil {
		base = "New VM"
	}
	name := base
	for n := 2; taken(name) && n < 1000; n++ {
		name = fmt.Sprintf("%s %d", base, n)
	}
	return name
}

// formatMemory writes a memory size as a person reads it: "512 MiB", "2 GiB", "1.5 GiB".
func formatMemory(mib int) string {
	switch {
	case mib < 1024:
		return fmt.Sprintf("%d MiB", mib)
	case mib%1024 == 0:
		return fmt.Sprintf("%d GiB", mib/1024)
	}
	return fmt.Sprintf("%.1f GiB", float64(mib)/1024)
}

// formatBytes writes a disk size: "20 GiB", "512 MiB", "1.2 TiB".
func formatBytes(n int64) string {
	const gib = 1 << 30
	switch {
	case n >= 1<<40:
		return fmt.Sprintf("%.1f TiB", float64(n)/(1<<40))
	case n >= gib && n%gib == 0:
		return fmt.Sprintf("%d GiB", n/gib)
	case n >= gib:
		return fmt.Sprintf("%.1f GiB", float64(n)/gib)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}
