#!/usr/bin/env bash
# Builds the Linux test guest from Debian packages only: the stock kernel of linux-image-amd64, busybox-static,
# and that kernel's own modules for virtio and input, with tests/guest/init.sh as /init.
#
# Output, in ${XDG_CACHE_HOME:-$HOME/.cache}/paddock/guests/<kernel-release>/: vmlinuz and initramfs.cpio.gz.
# The directory is rebuilt only when a package version, init.sh or this script changes. The last line printed
# is the directory.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/paddock/guests

# Modules the tests need, by module name; those built into the kernel are skipped. The kernel's config adds the
# drivers for the screen, keyboard, tablet and /dev/input where they are modules (see "needs" below). Besides the
# virtio devices: the CD-ROM (virtio-scsi, sr_mod, ISO 9660), the installed disk's FAT filesystem (vfat with the
# code page and character sets it loads by default) and folder shares (9p over virtio).
want_modules="virtio_pci virtio_blk virtio_console virtio_rng button
	virtio_scsi sr_mod cdrom isofs
	vfat fat nls_cp437 nls_ascii nls_utf8 nls_iso8859_1
	9p 9pnet 9pnet_virtio"

die() { echo "build-linux-guest: $*" >&2; exit 1; }

for tool in apt-cache apt-get dpkg-deb go sha256sum; do
	command -v "$tool" >/dev/null || die "$tool is missing"
done

kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$kernel_pkg" ] || die "cannot resolve linux-image-amd64 (run apt-get update first)"
kernel_release=${kernel_pkg#linux-image-}
kernel_ver=$(apt-cache policy "$kernel_pkg" | awk '/Candidate:/ { print $2 }')
busybox_ver=$(apt-cache policy busybox-static | awk '/Candidate:/ { print $2 }')
[ -n "$kernel_ver" ] && [ "$kernel_ver" != "(none)" ] || die "no candidate version of $kernel_pkg"
[ -n "$busybox_ver" ] && [ "$busybox_ver" != "(none)" ] || die "no candidate version of busybox-static"

out=$cache_root/$kernel_release
stamp="$kernel_pkg=$kernel_ver busybox-static=$busybox_ver $(cat "$here/init.sh" "$0" "$here/mkcpio/main.go" | sha256sum | cut -c1-16)"
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.cpio.gz" ]; then
	echo "$out"
	exit 0
fi

work=$(mktemp -d)
chmod 0755 "$work" # apt downloads as _apt where it can
trap 'rm -rf "$work"' EXIT
echo "build-linux-guest: $kernel_pkg $kernel_ver, busybox-static $busybox_ver" >&2
(cd "$work" && apt-get download -q "$kernel_pkg=$kernel_ver" "busybox-static=$busybox_ver" >&2) ||
	die "apt-get download failed"
dpkg-deb -x "$work"/linux-image-*.deb "$work/kernel"
dpkg-deb -x "$work"/busybox-static_*.deb "$work/busybox"

vmlinuz=$work/kernel/boot/vmlinuz-$kernel_release
[ -f "$vmlinuz" ] || die "no vmlinuz-$kernel_release in $kernel_pkg"
moddir=$work/kernel/lib/modules/$kernel_release
[ -d "$moddir" ] || moddir=$work/kernel/usr/lib/modules/$kernel_release
[ -d "$moddir/kernel" ] || die "no modules in $kernel_pkg"
config=$work/kernel/boot/config-$kernel_release
[ -f "$config" ] || die "no config-$kernel_release in $kernel_pkg"

# The value of a kernel option: y, m, or nothing when it is not set.
config_of() { sed -n "s/^CONFIG_$1=//p" "$config"; }
# needs OPTION MODULE WHAT: the tests need OPTION, built in or as module MODULE (then it goes in the initramfs).
needs() {
	case "$(config_of "$1")" in
	y) ;;
	m) want_modules="$want_modules $2" ;;
	*) die "$kernel_pkg lacks CONFIG_$1 ($3)" ;;
	esac
}
# The screen: Paddock describes a linear framebuffer in screen_info (VIDEO_TYPE_VLFB). sysfb turns that into a
# platform device: "simple-framebuffer" with SYSFB_SIMPLEFB (simpledrm or simplefb binds), else
# "vesa-framebuffer" (vesafb binds). Debian 12's kernel has SYSFB=y, no SYSFB_SIMPLEFB and FB_VESA=y.
[ "$(config_of SYSFB)" = y ] || die "$kernel_pkg lacks CONFIG_SYSFB (firmware framebuffer devices)"
if [ "$(config_of SYSFB_SIMPLEFB)" = y ]; then
	if [ -n "$(config_of DRM_SIMPLEDRM)" ]; then
		needs DRM_SIMPLEDRM simpledrm "framebuffer driver"
	else
		needs FB_SIMPLE simplefb "framebuffer driver"
	fi
else
	needs FB_VESA vesafb "framebuffer driver"
fi
needs FRAMEBUFFER_CONSOLE fbcon "text console on the framebuffer"
needs SERIO_I8042 i8042 "PS/2 controller"
needs KEYBOARD_ATKBD atkbd "PS/2 keyboard"
needs VIRTIO_INPUT virtio_input "virtio tablet"
needs INPUT_EVDEV evdev "/dev/input/event*"

busybox=$work/busybox/bin/busybox
[ -x "$busybox" ] || die "no busybox in busybox-static"

root=$work/root
mkdir -p "$root/bin" "$root/lib/modules" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/tmp"
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 0755 "$here/init.sh" "$root/init"

# Module name of a module file: the file name without .ko[.xz|.zst|.gz], dashes as underscores.
modname() { local b=${1##*/}; b=${b%%.ko*}; echo "${b//-/_}"; }

# A package carries no modules.dep (depmod makes it on install): find each module's file, and read its direct
# dependencies from the "depends=" string of its .modinfo section.
declare -A path_of=() loaded=()
while read -r path; do
	path_of[$(modname "$path")]=$path
done < <(cd "$moddir" && find kernel -name '*.ko*')
decompress() {
	case "$1" in
	*.ko.xz) xz -dc "$moddir/$1" ;;
	*.ko.zst) zstd -qdc "$moddir/$1" ;;
	*.ko.gz) gzip -dc "$moddir/$1" ;;
	*.ko) cat "$moddir/$1" ;;
	*) die "unknown module file $1" ;;
	esac
}
declare -A builtin=()
if [ -f "$moddir/modules.builtin" ]; then
	while read -r mod; do builtin[$(modname "$mod")]=1; done <"$moddir/modules.builtin"
fi

order=()
add_module() {
	local name=$1 path dep deps
	[ -n "${loaded[$name]:-}" ] && return
	[ -n "${builtin[$name]:-}" ] && return
	path=${path_of[$name]:-}
	[ -n "$path" ] || die "module $name is neither built in nor shipped in $kernel_pkg"
	decompress "$path" >"$root/lib/modules/$name.ko"
	loaded[$name]=1
	deps=$(tr '\0' '\n' <"$root/lib/modules/$name.ko" | sed -n 's/^depends=//p' | head -n 1)
	for dep in ${deps//,/ }; do
		add_module "$(modname "$dep")"
	done
	order+=("$name")
}
for m in $want_modules; do
	if [ -n "${builtin[$m]:-}" ]; then
		echo "build-linux-guest: $m is built in" >&2
		continue
	fi
	add_module "$m"
done
printf '%s\n' "${order[@]}" >"$root/etc/modules.order"
echo "build-linux-guest: modules: ${order[*]}" >&2

(cd "$here" && go build -o "$work/mkcpio" ./mkcpio) || die "building mkcpio failed"
"$work/mkcpio" -o "$work/initramfs.cpio.gz" "$root"

mkdir -p "$out"
cp "$vmlinuz" "$out/vmlinuz.new"
mv "$out/vmlinuz.new" "$out/vmlinuz"
mv "$work/initramfs.cpio.gz" "$out/initramfs.cpio.gz"
printf '%s\n' "${order[@]}" >"$out/modules"
echo "$stamp" >"$out/stamp"
# Guests built for kernels Debian has since replaced are of no further use.
for old in "$cache_root"/*/; do
	old=${old%/}
	[ "$old" != "$out" ] && [ -f "$old/stamp" ] && rm -rf "$old"
done
echo "$out"
