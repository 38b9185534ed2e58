package media

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// DataOnly is a plain data disc: no boot record.
func DataOnly() Spec {
	return Spec{Name: "data-only", VolumeID: "PADDOCK_DATA",
		Files: map[string]string{"README.TXT": "Paddock test data disc.\n", "docs/notes.txt": "nothing to boot here\n"}}
}

// DebianNetinst is shaped as Debian 12's netinst: its volume id, /.disk/info, and ISOLINUX.
func DebianNetinst() Spec {
	return Spec{Name: "debian-netinst", VolumeID: "Debian 12.5.0 amd64 n", Boot: Isolinux,
		Files: map[string]string{
			".disk/info":         `Debian GNU/Linux 12.5.0 "Bookworm" - Official amd64 NETINST with firmware 20240210-11:27`,
			"boot/grub/grub.cfg": "menuentry 'Graphical install' {\n  linux /install.amd/vmlinuz\n}\n",
		}}
}

// DebianDVD is disc 1 of Debian 12's DVD set, without Rock Ridge so only ISO 9660 names are there.
func DebianDVD() Spec {
	return Spec{Name: "debian-dvd1", VolumeID: "Debian 12.5.0 amd64 1", Boot: Isolinux, NoRockRidge: true,
		Files: map[string]string{
			".disk/info": `Debian GNU/Linux 12.5.0 "Bookworm" - Official amd64 DVD Binary-1 with firmware 20240210-11:28`,
		}}
}

// UbuntuDesktop is shaped as Ubuntu 24.04's desktop image.
func UbuntuDesktop() Spec {
	return Spec{Name: "ubuntu-desktop", VolumeID: "Ubuntu 24.04 LTS amd64", Boot: Isolinux,
		Files: map[string]string{".disk/info": `Ubuntu 24.04 LTS "Noble Numbat" - Release amd64 (20240423)`}}
}

// UbuntuServer is shaped as Ubuntu 24.04's live server image.
func UbuntuServer() Spec {
	return Spec{Name: "ubuntu-server", VolumeID: "Ubuntu-Server 24.04 LTS amd64", Boot: Isolinux,
		Files: map[string]string{".disk/info": `Ubuntu-Server 24.04 LTS "Noble Numbat" - Release amd64 (20240424)`}}
}

// FedoraWorkstation is shaped as Fedora 40's Workstation live image.
func FedoraWorkstation() Spec {
	return Spec{Name: "fedora-ws-live", VolumeID: "Fedora-WS-Live-40-1-14", Boot: Isolinux}
}

// FedoraServer is shaped as Fedora 40's Server DVD, with its /.treeinfo.
func FedoraServer() Spec {
	return Spec{Name: "fedora-server-dvd", VolumeID: "Fedora-S-dvd-x86_64-40", Boot: Isolinux,
		Files: map[string]string{".treeinfo": "[header]\ntype = productmd.treeinfo\nversion = 1.2\n\n" +
			"[release]\nname = Fedora\nshort = Fedora\nversion = 40\n\n" +
			"[general]\nfamily = Fedora\nversion = 40\nvariant = Server\narch = x86_64\n\n[tree]\narch = x86_64\n"}}
}

// AlpineVirt is shaped as Alpine 3.19's virt image, with /alpine-release.
func AlpineVirt() Spec {
	return Spec{Name: "alpine-virt", VolumeID: "alpine-virt 3.19.1 x86_64", Boot: Isolinux,
		Files: map[string]string{"alpine-release": "3.19.1\n"}}
}

// UnknownBootable boots through ISOLINUX but names no known system.
func UnknownBootable() Spec {
	return Spec{Name: "unknown-bootable", VolumeID: "MYSTERY_OS", Boot: Isolinux}
}

// Grub is grub-mkrescue's image, with a /boot/grub/grub.cfg.
func Grub() Spec {
	return Spec{Name: "grub-rescue", VolumeID: "PADDOCK_GRUB", Boot: GrubRescue}
}

// Truncated copies the first n bytes of the file at src into a temporary directory of t, as an interrupted
// download leaves it.
func Truncated(t testing.TB, src string, n int64) string {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, 0)
	if int64(got) != n {
		t.Fatalf("truncating %s to %d bytes: only %d bytes read: %v", src, n, got, err)
	}
	return write(t, filepath.Base(src)+".part", buf)
}

// Empty is a zero-length file named like an ISO.
func Empty(t testing.TB) string { t.Helper(); return write(t, "empty.iso", nil) }

// Text is a small text file.
func Text(t testing.TB) string {
	t.Helper()
	return write(t, "file.txt", []byte("Shopping list:\n- milk\n- bread\n"))
}

// Directory is a folder named like an ISO.
func Directory(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "folder.iso")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func write(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// GrubMenuEntry is the title of GrubMenu's one menu entry, as the menu shows it.
const GrubMenuEntry = "Paddock test guest"

// GrubMenuMarker is on the kernel command line GrubMenu's entry boots with.
const GrubMenuMarker = "paddock.loader=grub"

// GrubMenu is grub-mkrescue's image whose menu waits for a key, then boots kernel (a bzImage) with GRUB's
// `linux` command, as an installer's boot menu does.
func GrubMenu(kernel string) Spec {
	return Spec{Name: "grub-menu", VolumeID: "PADDOCK_GRUB_MENU", Boot: GrubRescue,
		HostFiles: map[string]string{"boot/guest": kernel},
		Files:     map[string]string{"boot/grub/grub.cfg": GrubConfig("/boot/guest", -1)}}
}

// GrubConfig is a grub.cfg whose menu boots the bzImage at path after timeout seconds, or waits for Enter when
// timeout is -1.
func GrubConfig(path string, timeout int) string {
	return fmt.Sprintf("set timeout=%d\nset default=0\n", timeout) +
		"menuentry '" + GrubMenuEntry + "' {\n" +
		"  echo 'Loading the test guest...'\n" +
		"  linux " + path + " console=ttyS0 " + GrubMenuMarker + "\n" +
		"}\n"
}
