package iso

import "testing"

func TestVolumeIDRules(t *testing.T) {
	tests := []struct {
		volumeID string
		want     ident
		label    string
	}{
		{"Debian 12.5.0 amd64 n", ident{FamilyDebian, "Debian", "12.5.0", "", "netinst", "amd64"}, "Debian 12.5.0 netinst"},
		{"Debian 12.5.0 amd64 1", ident{FamilyDebian, "Debian", "12.5.0", "", "disc 1", "amd64"}, "Debian 12.5.0 disc 1"},
		{"Debian 11.9.0 i386 n", ident{FamilyDebian, "Debian", "11.9.0", "", "netinst", "i386"}, "Debian 11.9.0 netinst"},
		{"d-live 12.5.0 gn amd64", ident{FamilyDebian, "Debian", "12.5.0", "", "live", "amd64"}, "Debian 12.5.0 live"},
		{"Ubuntu 24.04 LTS amd64", ident{FamilyUbuntu, "Ubuntu", "24.04", "LTS", "", "amd64"}, "Ubuntu 24.04 LTS"},
		{"Ubuntu 23.10 amd64", ident{FamilyUbuntu, "Ubuntu", "23.10", "", "", "amd64"}, "Ubuntu 23.10"},
		{"Ubuntu-Server 24.04 LTS amd64", ident{FamilyUbuntu, "Ubuntu Server", "24.04", "LTS", "Server", "amd64"}, "Ubuntu Server 24.04 LTS"},
		{"Ubuntu-Server 22.04.4 LTS amd64", ident{FamilyUbuntu, "Ubuntu Server", "22.04.4", "LTS", "Server", "amd64"}, "Ubuntu Server 22.04.4 LTS"},
		{"Fedora-WS-Live-40-1-14", ident{FamilyFedora, "Fedora", "40", "", "Workstation Live", ""}, "Fedora 40 Workstation Live"},
		{"Fedora-S-dvd-x86_64-40", ident{FamilyFedora, "Fedora", "40", "", "Server", "x86_64"}, "Fedora 40 Server"},
		{"Fedora-E-dvd-x86_64-39", ident{FamilyFedora, "Fedora", "39", "", "Everything", "x86_64"}, "Fedora 39 Everything"},
		{"Fedora-KDE-Live-40-1-14", ident{FamilyFedora, "Fedora", "40", "", "KDE Plasma Live", ""}, "Fedora 40 KDE Plasma Live"},
		{"alpine-std 3.19.1 x86_64", ident{FamilyAlpine, "Alpine", "3.19.1", "", "standard", "x86_64"}, "Alpine 3.19.1 standard"},
		{"alpine-virt 3.20.0 x86_64", ident{FamilyAlpine, "Alpine", "3.20.0", "", "virt", "x86_64"}, "Alpine 3.20.0 virt"},
		{"alpine-extended 3.19.1 x86_64", ident{FamilyAlpine, "Alpine", "3.19.1", "", "extended", "x86_64"}, "Alpine 3.19.1 extended"},
		// Look-alikes stay unknown.
		{"", ident{}, ""},
		{"DEBIAN", ident{}, ""},
		{"Debianish 12", ident{}, ""},
		{"UBUNTU 24.04", ident{}, ""},
		{"Fedora", ident{}, ""},
		{"alpine 3.19", ident{}, ""},
		{"CDROM", ident{}, ""},
	}
	for _, tt := range tests {
		got := match(volumeIDRules, tt.volumeID)
		if got != tt.want {
			t.Errorf("%q: got %+v, want %+v", tt.volumeID, got, tt.want)
		}
		if l := got.label(); l != tt.label {
			t.Errorf("%q: label %q, want %q", tt.volumeID, l, tt.label)
		}
	}
}

func TestDiskInfoRules(t *testing.T) {
	tests := []struct {
		info string
		want ident
	}{
		{`Debian GNU/Linux 12.5.0 "Bookworm" - Official amd64 NETINST with firmware 20240210-11:27`,
			ident{FamilyDebian, "Debian", "12.5.0", "", "netinst", "amd64"}},
		{`Debian GNU/Linux 12.5.0 "Bookworm" - Official amd64 DVD Binary-1 with firmware 20240210-11:28`,
			ident{FamilyDebian, "Debian", "12.5.0", "", "disc 1", "amd64"}},
		{`Debian GNU/Linux 13 "Trixie" - Unofficial arm64 NETINST 20250101-10:00`,
			ident{FamilyDebian, "Debian", "13", "", "netinst", "arm64"}},
		{`Ubuntu 24.04 LTS "Noble Numbat" - Release amd64 (20240423)`,
			ident{FamilyUbuntu, "Ubuntu", "24.04", "LTS", "", "amd64"}},
		{`Ubuntu-Server 24.04 LTS "Noble Numbat" - Release amd64 (20240424)`,
			ident{FamilyUbuntu, "Ubuntu Server", "24.04", "LTS", "Server", "amd64"}},
		{`Ubuntu 23.10 "Mantic Minotaur" - Release amd64 (20231010)`,
			ident{FamilyUbuntu, "Ubuntu", "23.10", "", "", "amd64"}},
		{`Debian GNU/Linux`, ident{}},
		{`Linux Mint 21.3 "Virginia" - Release amd64 20240114`, ident{}},
	}
	for _, tt := range tests {
		if got := match(diskInfoRules, tt.info); got != tt.want {
			t.Errorf("%q: got %+v, want %+v", tt.info, got, tt.want)
		}
	}
}

func TestTreeinfo(t *testing.T) {
	fedora := "[header]\nversion = 1.2\n\n[release]\nname = Fedora\nversion = 40\n\n[general]\nfamily = Fedora\nvariant = Server\narch = x86_64\n"
	if got, want := treeinfo(fedora), (ident{FamilyFedora, "Fedora", "40", "", "Server", "x86_64"}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	old := "[general]\nfamily = Fedora\nversion = 38\nvariant = Everything\n[tree]\narch = aarch64\n"
	if got, want := treeinfo(old), (ident{FamilyFedora, "Fedora", "38", "", "Everything", "aarch64"}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := treeinfo("[release]\nname = Rocky Linux\nversion = 9.3\n"); got != (ident{}) {
		t.Errorf("a non-Fedora tree: %+v", got)
	}
	if got := treeinfo("garbage\x00[[[\n=\n"); got != (ident{}) {
		t.Errorf("garbage: %+v", got)
	}
}

// TestSourcesMerge: /.disk/info wins over the volume id, and fills what the volume id lacks.
func TestSourcesMerge(t *testing.T) {
	img := synthISO()
	copy(sector(img, secPVD)[40:72], padded("Debian 12.5.0 amd64", 32))
	info, err := inspectBytes(t, img)
	if err != nil || info.Label != "Debian 12.5.0 netinst" || info.Edition != "netinst" {
		t.Errorf("err %v label %q", err, info.Label)
	}
	img = synthISO()
	copy(sector(img, secPVD)[40:72], padded("Fedora-S-dvd-x86_64-40", 32))
	clear(sector(img, secDiskInfo))
	info, err = inspectBytes(t, img)
	if err != nil || info.Label != "Fedora 40 Server" {
		t.Errorf("err %v label %q", err, info.Label)
	}
	copy(sector(img, secPVD)[40:72], padded("MYSTERY", 32))
	info, _ = inspectBytes(t, img)
	if info.Label != "Unknown, bootable" || info.Family != FamilyUnknown {
		t.Errorf("label %q family %q", info.Label, info.Family)
	}
	clear(sector(img, secBootRecord)[7:39])
	info, _ = inspectBytes(t, img)
	if info.Label != "Unknown, not bootable" {
		t.Errorf("label %q", info.Label)
	}
}

func TestCleanText(t *testing.T) {
	for in, want := range map[string]string{
		"PADDOCK_DATA                    ": "PADDOCK_DATA",
		"a\x00\x00b":                       "a b",
		"\x1b[31mred\x1b[0m":               "[31mred[0m",
		"caf\xc3\xa9 \xff ok":              "café ok",
		"  tabs\tand\nnewlines  ":          "tabs and newlines",
	} {
		if got := cleanText([]byte(in), 100); got != want {
			t.Errorf("cleanText(%q) = %q, want %q", in, got, want)
		}
	}
	if got := cleanText([]byte("abcdef"), 3); got != "abc" {
		t.Errorf("cap: %q", got)
	}
}
