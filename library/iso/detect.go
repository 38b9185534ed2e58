package iso

import (
	"cmp"
	"regexp"
	"strings"
)

// ident is what one source (the volume id, a well-known file) says about the system on an image.
type ident struct {
	family    Family
	product   string // "Debian", "Ubuntu Server"
	version   string
	qualifier string // "LTS"
	edition   string // "netinst", "Server", "Workstation Live"
	arch      string
}

// label words an ident for a person: product, version, qualifier, and the edition unless the product names it.
func (id ident) label() string {
	parts := []string{id.product, id.version, id.qualifier}
	if id.edition != "" && !strings.Contains(id.product, id.edition) {
		parts = append(parts, id.edition)
	}
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, " ")
}

// rule recognises one shape of text; make builds the ident from the submatches.
type rule struct {
	pattern *regexp.Regexp
	make    func(m []string) ident
}

func match(rules []rule, text string) ident {
	for _, r := range rules {
		if m := r.pattern.FindStringSubmatch(text); m != nil {
			return r.make(m)
		}
	}
	return ident{}
}

const versionPattern = `(\d+(?:\.\d+)*)`

// volumeIDRules recognise the primary volume descriptor's volume identifier (at most 32 characters).
var volumeIDRules = []rule{
	// "Debian 12.5.0 amd64 n" (netinst), "Debian 12.5.0 amd64 1" (disc 1 of a set)
	{regexp.MustCompile(`^Debian ` + versionPattern + `(?: (\S+))?(?: (\S+))?`), func(m []string) ident {
		return ident{family: FamilyDebian, product: "Debian", version: m[1], arch: m[2], edition: debianMedium(m[3])}
	}},
	// "d-live 12.5.0 gn amd64": the live images, gn = GNOME
	{regexp.MustCompile(`^d-live ` + versionPattern + ` (\S+)(?: (\S+))?`), func(m []string) ident {
		return ident{family: FamilyDebian, product: "Debian", version: m[1], arch: m[3], edition: "live"}
	}},
	// "Ubuntu 24.04 LTS amd64", "Ubuntu-Server 24.04 LTS amd64"
	{regexp.MustCompile(`^Ubuntu(-Server)? (\d+\.\d+(?:\.\d+)?)( LTS)?(?: (\S+))?`), func(m []string) ident {
		return ubuntu(m[1] != "", m[2], m[3] != "", m[4])
	}},
	// "Fedora-WS-Live-40-1-14", "Fedora-S-dvd-x86_64-40", "Fedora-E-dvd-x86_64-39"
	{regexp.MustCompile(`^Fedora-([A-Za-z0-9]+)-(.+)$`), fedoraVolume},
	// "alpine-std 3.19.1 x86_64", "alpine-virt 3.20.0 x86_64"
	{regexp.MustCompile(`^alpine-([a-z0-9]+) (\d+\.\d+(?:\.\d+)?)(?: (\S+))?`), func(m []string) ident {
		edition := m[1]
		if edition == "std" {
			edition = "standard"
		}
		return ident{family: FamilyAlpine, product: "Alpine", version: m[2], edition: edition, arch: m[3]}
	}},
}

// diskInfoRules recognise the first line of /.disk/info.
var diskInfoRules = []rule{
	// Debian GNU/Linux 12.5.0 "Bookworm" - Official amd64 NETINST with firmware 20240210-11:27
	// Debian GNU/Linux 12.5.0 "Bookworm" - Official amd64 DVD Binary-1 with firmware 20240210-11:28
	{regexp.MustCompile(`^Debian GNU/Linux ` + versionPattern + ` "[^"]*" - (?:(?:Official|Unofficial) )?(\S+) (.*)$`),
		func(m []string) ident {
			return ident{family: FamilyDebian, product: "Debian", version: m[1], arch: m[2], edition: debianDiskInfoMedium(m[3])}
		}},
	// Ubuntu 24.04 LTS "Noble Numbat" - Release amd64 (20240423)
	// Ubuntu-Server 24.04 LTS "Noble Numbat" - Release amd64 (20240424)
	{regexp.MustCompile(`^Ubuntu(-Server)? (\d+\.\d+(?:\.\d+)?)( LTS)? "[^"]*" - \S+ (\S+)`), func(m []string) ident {
		return ubuntu(m[1] != "", m[2], m[3] != "", m[4])
	}},
}

// alpineReleaseRule recognises /alpine-release: "3.19.1".
var alpineReleaseRule = regexp.MustCompile(`^(\d+\.\d+(?:\.\d+)?)$`)

var (
	discNumber      = regexp.MustCompile(`^\d+$`)
	debianBinaryNum = regexp.MustCompile(`Binary-(\d+)`)
	allDigits       = regexp.MustCompile(`^\d{2,}$`)
)

// debianMedium names the last word of a Debian volume id: "n" is the netinst, a number a disc of a set.
func debianMedium(code string) string {
	switch {
	case code == "n":
		return "netinst"
	case discNumber.MatchString(code):
		return "disc " + code
	}
	return ""
}

func debianDiskInfoMedium(rest string) string {
	upper := strings.ToUpper(rest)
	switch {
	case strings.Contains(upper, "NETINST"):
		return "netinst"
	case strings.Contains(upper, "LIVE"):
		return "live"
	}
	if m := debianBinaryNum.FindStringSubmatch(rest); m != nil {
		return "disc " + m[1]
	}
	return ""
}

func ubuntu(server bool, ver string, lts bool, arch string) ident {
	id := ident{family: FamilyUbuntu, product: "Ubuntu", version: ver, arch: arch}
	if server {
		id.product, id.edition = "Ubuntu Server", "Server"
	}
	if lts {
		id.qualifier = "LTS"
	}
	return id
}

// fedoraEditions names the edition codes of Fedora's volume ids.
var fedoraEditions = map[string]string{
	"WS":      "Workstation",
	"S":       "Server",
	"E":       "Everything",
	"KDE":     "KDE Plasma",
	"Xfce":    "Xfce",
	"IoT":     "IoT",
	"SB":      "Silverblue",
	"Kinoite": "Kinoite",
}

// fedoraVolume reads "Fedora-<edition>-<words>": the version is the first all-digit word, "Live" marks a live
// image, and a word with an underscore or "aarch64" is the architecture.
func fedoraVolume(m []string) ident {
	id := ident{family: FamilyFedora, product: "Fedora", edition: m[1]}
	if name, ok := fedoraEditions[m[1]]; ok {
		id.edition = name
	}
	for _, w := range strings.Split(m[2], "-") {
		switch {
		case id.version == "" && allDigits.MatchString(w):
			id.version = w
		case w == "Live":
			id.edition += " Live"
		case w == "x86_64" || w == "aarch64" || w == "ppc64le" || w == "s390x":
			id.arch = w
		}
	}
	return id
}

// treeinfo reads the INI-like /.treeinfo of Fedora media: [release] name and version, [general] family,
// version, variant and arch, [tree] arch.
func treeinfo(text string) ident {
	values := map[string]string{}
	section := ""
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			key := section + "." + strings.TrimSpace(k)
			if _, seen := values[key]; !seen {
				values[key] = cleanText([]byte(strings.TrimSpace(v)), 64)
			}
		}
	}
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := values[k]; v != "" {
				return v
			}
		}
		return ""
	}
	if first("release.name", "general.family") != "Fedora" {
		return ident{}
	}
	return ident{
		family:  FamilyFedora,
		product: "Fedora",
		version: first("release.version", "general.version"),
		edition: first("general.variant"),
		arch:    first("tree.arch", "general.arch"),
	}
}

// readWellKnownFiles reads the files that name a system or its boot loader.
func (in *inspection) readWellKnownFiles() error {
	data, err := in.readFile("/.disk/info", 512)
	if err != nil {
		return err
	}
	in.info.DiskInfo = firstLine(data)
	if in.treeinfo, err = in.readFile("/.treeinfo", 16<<10); err != nil {
		return err
	}
	if in.alpineRelease, err = in.readFile("/alpine-release", 64); err != nil {
		return err
	}
	for _, bl := range []struct{ name, path string }{
		{"isolinux", "/isolinux/isolinux.cfg"},
		{"grub", "/boot/grub/grub.cfg"},
	} {
		found, err := in.exists(bl.path)
		if err != nil {
			return err
		}
		if found {
			in.info.BootLoaders = append(in.info.BootLoaders, bl.name)
		}
	}
	return nil
}

// detect merges what the sources say: the first source that names a family wins, and the others of the same
// family fill in what it left out. /.disk/info comes first because the volume id is cut at 32 characters.
func (in *inspection) detect() ident {
	sources := []ident{match(diskInfoRules, in.info.DiskInfo), match(volumeIDRules, in.info.VolumeID)}
	sources = append(sources, treeinfo(string(in.treeinfo)))
	if m := alpineReleaseRule.FindStringSubmatch(firstLine(in.alpineRelease)); m != nil {
		sources = append(sources, ident{family: FamilyAlpine, product: "Alpine", version: m[1]})
	}
	var best ident
	for _, s := range sources {
		if s.family == "" {
			continue
		}
		if best.family == "" {
			best = s
			continue
		}
		if s.family != best.family {
			continue
		}
		best.version = cmp.Or(best.version, s.version)
		best.edition = cmp.Or(best.edition, s.edition)
		best.arch = cmp.Or(best.arch, s.arch)
		best.qualifier = cmp.Or(best.qualifier, s.qualifier)
	}
	return best
}

// applyDetection fills the identity fields and the label.
func (info *Info) applyDetection(id ident) {
	info.Family, info.Version, info.Edition, info.Arch = id.family, id.version, id.edition, id.arch
	switch {
	case id.family != FamilyUnknown:
		info.Label = id.label()
	case info.Bootable:
		info.Label = "Unknown, bootable"
	default:
		info.Label = "Unknown, not bootable"
	}
}
