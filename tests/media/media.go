// Package media builds installer-shaped ISO images for tests with Debian's own mastering tools: xorriso for the
// ISO 9660 filesystem, ISOLINUX for El Torito BIOS boot, grub-mkrescue for GRUB images (BIOS, and UEFI where
// grub-efi-amd64-bin is installed). Images are cached under ${XDG_CACHE_HOME:-~/.cache}/paddock/media/, keyed by
// the spec and the installed tool versions, so a test run builds each once.
//
// The images carry the volume ids and marker files real media carry (".disk/info", ".treeinfo",
// "alpine-release"), not the systems themselves: they are for code that recognises media, not for booting one.
//
// Tests call Get, which skips with the missing packages named, or fails when PADDOCK_REQUIRE_MEDIA=1.
package media

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Boot says how an image boots.
type Boot int

// The boot set-ups the builders make.
const (
	// NoBoot: a data-only image, no El Torito boot record.
	NoBoot Boot = iota
	// Isolinux: El Torito no-emulation BIOS boot through ISOLINUX, with an isohybrid MBR, as Debian's media.
	Isolinux
	// GrubRescue: grub-mkrescue's image: BIOS boot, plus a UEFI El Torito entry when grub-efi-amd64-bin is
	// installed (see HasUEFI).
	GrubRescue
)

// Spec describes one image. Equal specs give the same cached file.
type Spec struct {
	// Name is the file name's stem, "debian-netinst".
	Name string
	// VolumeID is the primary volume descriptor's volume identifier (at most 32 characters).
	VolumeID string
	// Files maps slash-separated paths inside the image to their contents.
	Files map[string]string
	Boot  Boot
	// HostFiles maps slash-separated paths inside the image to files on the host (a test guest's kernel); their
	// contents key the cache, their paths do not.
	HostFiles map[string]string `json:"-"`
	// NoRockRidge leaves out Rock Ridge, so readers see only ISO 9660 (level 3) names.
	NoRockRidge bool
}

// Debian packages the builders need, by tool; RequiredPackages and OptionalPackages list them for a deps script.
var (
	xorrisoPkgs  = []string{"xorriso"}
	isolinuxPkgs = []string{"isolinux", "syslinux-common"}
	grubPkgs     = []string{"grub-pc-bin", "grub-common", "mtools"}
)

// Tool paths inside Debian's packages.
const (
	isolinuxBin = "/usr/lib/ISOLINUX/isolinux.bin"
	isohdpfxBin = "/usr/lib/ISOLINUX/isohdpfx.bin"
	ldlinuxC32  = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
	grubPCDir   = "/usr/lib/grub/i386-pc"
	grubEFIDir  = "/usr/lib/grub/x86_64-efi"
)

// RequiredPackages lists every Debian package the builders need.
func RequiredPackages() []string {
	return slices.Concat(xorrisoPkgs, isolinuxPkgs, grubPkgs)
}

// OptionalPackages lists packages that add to the images when installed: grub-efi-amd64-bin gives grub-mkrescue
// images a UEFI boot entry.
func OptionalPackages() []string { return []string{"grub-efi-amd64-bin"} }

// HasUEFI says whether grub-mkrescue images will carry a UEFI El Torito entry.
func HasUEFI() bool {
	_, err := os.Stat(grubEFIDir)
	return err == nil
}

// Missing lists the Debian packages whose tools building spec needs and does not find.
func Missing(spec Spec) []string {
	var missing []string
	if _, err := exec.LookPath("xorriso"); err != nil {
		missing = append(missing, xorrisoPkgs...)
	}
	switch spec.Boot {
	case Isolinux:
		for _, f := range []string{isolinuxBin, isohdpfxBin, ldlinuxC32} {
			if _, err := os.Stat(f); err != nil {
				missing = append(missing, isolinuxPkgs...)
				break
			}
		}
	case GrubRescue:
		_, errMk := exec.LookPath("grub-mkrescue")
		_, errPC := os.Stat(grubPCDir)
		_, errMtools := exec.LookPath("mformat")
		if errMk != nil || errPC != nil || errMtools != nil {
			missing = append(missing, grubPkgs...)
		}
	}
	return missing
}

// Get returns the path of spec's image, building it into the cache if needed. Without the tools it skips t,
// naming the packages, or fails t when PADDOCK_REQUIRE_MEDIA=1.
func Get(t testing.TB, spec Spec) string {
	t.Helper()
	if missing := Missing(spec); len(missing) > 0 {
		msg := fmt.Sprintf("test media %q needs Debian packages: %s (apt-get install -y %s)",
			spec.Name, strings.Join(missing, ", "), strings.Join(missing, " "))
		if os.Getenv("PADDOCK_REQUIRE_MEDIA") == "1" {
			t.Fatal(msg + "; PADDOCK_REQUIRE_MEDIA=1 makes this a failure")
		} else {
			t.Skip(msg)
		}
		return ""
	}
	path, err := Build(spec)
	if err != nil {
		t.Fatalf("building test media %q: %v", spec.Name, err)
	}
	return path
}

// CacheDir is ${XDG_CACHE_HOME:-~/.cache}/paddock/media.
func CacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding the cache directory: %w", err)
	}
	return filepath.Join(base, "paddock", "media"), nil
}

// Build returns the path of spec's image in CacheDir, building it first if no image of the same spec and tool
// versions is there.
func Build(spec Spec) (string, error) {
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	return BuildIn(dir, spec)
}

// BuildIn is Build with the cache in dir.
func BuildIn(dir string, spec Spec) (string, error) {
	if spec.Name == "" || strings.ContainsAny(spec.Name, `/\`) {
		return "", fmt.Errorf("test media spec needs a plain file name, not %q", spec.Name)
	}
	if missing := Missing(spec); len(missing) > 0 {
		return "", fmt.Errorf("missing Debian packages: %s", strings.Join(missing, ", "))
	}
	key, err := cacheKey(spec)
	if err != nil {
		return "", err
	}
	final := filepath.Join(dir, spec.Name+"-"+key+".iso")
	if fi, err := os.Stat(final); err == nil && fi.Size() > 0 {
		return final, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Build beside the final path and rename, so concurrent test binaries never see half an image.
	work, err := os.MkdirTemp(dir, spec.Name+".build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	out := filepath.Join(work, "image.iso")
	if err := build(spec, filepath.Join(work, "tree"), out); err != nil {
		return "", err
	}
	if err := os.Rename(out, final); err != nil {
		return "", err
	}
	pruneStale(dir, spec.Name, final)
	return final, nil
}

// pruneStale removes images of the same name built from an older spec or older tools.
func pruneStale(dir, name, keep string) {
	old, _ := filepath.Glob(filepath.Join(dir, name+"-????????????????.iso"))
	for _, p := range old {
		if p != keep {
			os.Remove(p)
		}
	}
}

// formatVersion changes when the builders change what they make, so stale cached images are not reused.
const formatVersion = "2"

// cacheKey hashes the spec with the installed tool versions.
func cacheKey(spec Spec) (string, error) {
	h := sha256.New()
	enc, err := json.Marshal(struct {
		Format string
		Spec   Spec
		UEFI   bool
	}{formatVersion, spec, spec.Boot == GrubRescue && HasUEFI()})
	if err != nil {
		return "", err
	}
	h.Write(enc)
	for _, name := range slices.Sorted(maps.Keys(spec.HostFiles)) {
		data, err := os.ReadFile(spec.HostFiles[name])
		if err != nil {
			return "", fmt.Errorf("image file %s: %w", name, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(data))
		h.Write(data)
	}
	args := append([]string{"-W", "-f", "${Package} ${Version}\n"}, RequiredPackages()...)
	args = append(args, OptionalPackages()...)
	versions, _ := exec.Command("dpkg-query", args...).Output() // absent packages are simply not listed
	h.Write(versions)
	if v, err := exec.Command("xorriso", "-version").Output(); err == nil {
		h.Write(v)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func build(spec Spec, tree, out string) error {
	files := maps.Clone(spec.Files)
	if files == nil {
		files = map[string]string{}
	}
	switch spec.Boot {
	case Isolinux:
		if _, ok := files["isolinux/isolinux.cfg"]; !ok {
			files["isolinux/isolinux.cfg"] = "default install\nlabel install\n  kernel /install/vmlinuz\n"
		}
	case GrubRescue:
		if _, ok := files["boot/grub/grub.cfg"]; !ok {
			files["boot/grub/grub.cfg"] = "set timeout=0\nmenuentry 'Install' {\n  linux /install/vmlinuz\n}\n"
		}
	}
	for name, host := range spec.HostFiles {
		data, err := os.ReadFile(host)
		if err != nil {
			return fmt.Errorf("image file %s: %w", name, err)
		}
		files[name] = string(data)
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		p := filepath.Join(tree, filepath.FromSlash(name))
		if !strings.HasPrefix(p, tree+string(filepath.Separator)) {
			return fmt.Errorf("file %q would land outside the image tree", name)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(tree, 0o755); err != nil {
		return err
	}

	var argv []string
	switch spec.Boot {
	case NoBoot, Isolinux:
		argv = []string{"xorriso", "-as", "mkisofs", "-o", out, "-V", spec.VolumeID,
			"-publisher", "Paddock test media", "-A", "Paddock test media " + spec.Name}
		if spec.NoRockRidge {
			argv = append(argv, "-iso-level", "3", "--norock")
		} else {
			argv = append(argv, "-R", "-J")
		}
		if spec.Boot == Isolinux {
			for src, dst := range map[string]string{isolinuxBin: "isolinux/isolinux.bin", ldlinuxC32: "isolinux/ldlinux.c32"} {
				if err := copyFile(src, filepath.Join(tree, filepath.FromSlash(dst))); err != nil {
					return err
				}
			}
			argv = append(argv, "-isohybrid-mbr", isohdpfxBin,
				"-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat",
				"-no-emul-boot", "-boot-load-size", "4", "-boot-info-table")
		}
		argv = append(argv, tree)
	case GrubRescue:
		argv = []string{"grub-mkrescue", "-o", out, tree, "--", "-volid", spec.VolumeID}
	default:
		return fmt.Errorf("unknown boot set-up %d", spec.Boot)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, log.String())
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
