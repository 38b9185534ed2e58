package iso_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"paddock/library/iso"
	"paddock/tests/media"
)

// TestRealMedia inspects images mastered by xorriso, ISOLINUX and grub-mkrescue, shaped as the distributions'.
func TestRealMedia(t *testing.T) {
	tests := []struct {
		spec        media.Spec
		label       string
		family      iso.Family
		version     string
		bios        bool
		bootLoaders []string
		reason      string
	}{
		{media.DataOnly(), "Unknown, not bootable", iso.FamilyUnknown, "", false, nil, "no El Torito boot record"},
		{media.DebianNetinst(), "Debian 12.5.0 netinst", iso.FamilyDebian, "12.5.0", true, []string{"isolinux", "grub"}, ""},
		{media.DebianDVD(), "Debian 12.5.0 disc 1", iso.FamilyDebian, "12.5.0", true, []string{"isolinux"}, ""},
		{media.UbuntuDesktop(), "Ubuntu 24.04 LTS", iso.FamilyUbuntu, "24.04", true, []string{"isolinux"}, ""},
		{media.UbuntuServer(), "Ubuntu Server 24.04 LTS", iso.FamilyUbuntu, "24.04", true, []string{"isolinux"}, ""},
		{media.FedoraWorkstation(), "Fedora 40 Workstation Live", iso.FamilyFedora, "40", true, []string{"isolinux"}, ""},
		{media.FedoraServer(), "Fedora 40 Server", iso.FamilyFedora, "40", true, []string{"isolinux"}, ""},
		{media.AlpineVirt(), "Alpine 3.19.1 virt", iso.FamilyAlpine, "3.19.1", true, []string{"isolinux"}, ""},
		{media.UnknownBootable(), "Unknown, bootable", iso.FamilyUnknown, "", true, []string{"isolinux"}, ""},
		{media.Grub(), "Unknown, bootable", iso.FamilyUnknown, "", true, []string{"grub"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.spec.Name, func(t *testing.T) {
			path := media.Get(t, tt.spec)
			info, err := iso.Inspect(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.VolumeID != tt.spec.VolumeID {
				t.Errorf("volume id %q, want %q", info.VolumeID, tt.spec.VolumeID)
			}
			if info.Label != tt.label || info.Family != tt.family || info.Version != tt.version {
				t.Errorf("label %q family %q version %q, want %q %q %q", info.Label, info.Family, info.Version, tt.label, tt.family, tt.version)
			}
			if info.BIOSBootable != tt.bios || info.Bootable != tt.bios || info.Reason != tt.reason {
				t.Errorf("BIOS %v bootable %v reason %q, want %v %v %q", info.BIOSBootable, info.Bootable, info.Reason, tt.bios, tt.bios, tt.reason)
			}
			// The DVD has no Rock Ridge: its /.disk/info is found by its ISO 9660 name, "_DISK/INFO.;1".
			if want := tt.spec.Files[".disk/info"]; info.DiskInfo != want {
				t.Errorf("/.disk/info %q, want %q", info.DiskInfo, want)
			}
			if !slices.Equal(info.BootLoaders, tt.bootLoaders) {
				t.Errorf("boot loaders %v, want %v", info.BootLoaders, tt.bootLoaders)
			}
			if info.SizeBytes != info.FileBytes || info.SizeBytes == 0 {
				t.Errorf("volume %d bytes, file %d bytes: xorriso writes the whole volume", info.SizeBytes, info.FileBytes)
			}
			wantUEFI := tt.spec.Boot == media.GrubRescue && media.HasUEFI()
			if info.UEFIBootable != wantUEFI {
				t.Errorf("UEFI bootable %v, want %v", info.UEFIBootable, wantUEFI)
			}
		})
	}
}

// TestHostileFiles drops what a user might drop by mistake, and truncated downloads.
func TestHostileFiles(t *testing.T) {
	netinst := media.Get(t, media.DebianNetinst())
	tests := []struct {
		name string
		path string
		is   error
		msg  string
	}{
		{"zero-length", media.Empty(t), iso.ErrNotISO, "empty.iso is not a CD/DVD image (ISO 9660): the file is empty"},
		{"text", media.Text(t), iso.ErrNotISO, "file.txt is not a CD/DVD image (ISO 9660): it is only 30 bytes long, too short to hold one"},
		{"directory", media.Directory(t), iso.ErrNotISO, "folder.iso is not a CD/DVD image (ISO 9660): it is a folder"},
		{"cut at 1 KiB", media.Truncated(t, netinst, 1<<10), iso.ErrNotISO,
			"debian-netinst-*.iso.part is not a CD/DVD image (ISO 9660): it is only 1 KiB long, too short to hold one"},
		{"cut at 32 KiB", media.Truncated(t, netinst, 32<<10), iso.ErrNotISO,
			"debian-netinst-*.iso.part is not a CD/DVD image (ISO 9660): it is only 32 KiB long, too short to hold one"},
		{"cut at 40 KiB", media.Truncated(t, netinst, 40<<10), iso.ErrTruncated,
			"debian-netinst-*.iso.part is an incomplete CD/DVD image: the file holds 40 KiB of the 1 MiB the image declares; was the download interrupted?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := iso.Inspect(tt.path)
			if !errors.Is(err, tt.is) {
				t.Fatalf("error %v, want %v", err, tt.is)
			}
			if !matchName(err.Error(), tt.msg) {
				t.Errorf("message\n%q, want\n%q", err, tt.msg)
			}
			if errors.Is(err, iso.ErrTruncated) {
				// The descriptors survive a cut at 40 KiB: the image still says what it is, and that it will not boot.
				if info.Label != "Debian 12.5.0 netinst" || info.Bootable || info.Reason == "" {
					t.Errorf("label %q bootable %v reason %q", info.Label, info.Bootable, info.Reason)
				}
			}
		})
	}
}

// matchName compares a message with a pattern whose single "*" stands for the cache key in the file name.
func matchName(got, pattern string) bool {
	before, after, ok := strings.Cut(pattern, "*")
	if !ok {
		return got == pattern
	}
	return len(got) >= len(before)+len(after) && got[:len(before)] == before && got[len(got)-len(after):] == after
}
