#!/usr/bin/env bash
# Builds Paddock's Debian package: `bash packaging/build-deb.sh [OUTPUT-DIR]` (default dist/) writes
# OUTPUT-DIR/paddock_VERSION_ARCH.deb. PADDOCK_VERSION sets the version (default 0.0~gitDATE.COMMIT of the
# checkout); DEBFULLNAME and DEBEMAIL set the maintainer.
#
# The package installs paddock and paddock-vmm side by side in /usr/bin (paddock hands VMs to the paddock-vmm
# beside it), the guest agent in /usr/lib/paddock/guest-tools (where `paddock guest-tools` looks when there is none
# beside paddock), and the desktop entry, AppStream metadata and icons under /usr/share.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)

. packaging/deps.sh
install_debs "${build_debs[@]}"

mkdir -p bin
go build -o bin/paddock .
# The lean VMM program and the guest agent are static: no cgo.
CGO_ENABLED=0 go build -o bin/paddock-vmm ./ui/paddock-vmm
CGO_ENABLED=0 go build -o bin/paddock-agent ./sharing/agent/cmd/paddock-agent

app_id=org.paddock.Paddock
arch=$(dpkg --print-architecture)
if [ -n "${PADDOCK_VERSION:-}" ]; then
	version=$PADDOCK_VERSION
elif commit=$(git rev-parse --short HEAD 2>/dev/null); then
	version="0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d).$commit"
else
	version="0.0~dev"
fi
maintainer="${DEBFULLNAME:-Paddock maintainers} <${DEBEMAIL:-paddock@localhost}>"

# Staged as debian/paddock beside a debian/control so that dpkg-shlibdeps reads it as a package tree.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/debian/paddock

install -D -m 0755 bin/paddock "$root/usr/bin/paddock"
install -D -m 0755 bin/paddock-vmm "$root/usr/bin/paddock-vmm"
install -D -m 0755 bin/paddock-agent "$root/usr/lib/paddock/guest-tools/paddock-agent"
# Debug information is most of a Go program's size; symbols stay, so stack traces keep their function names.
if command -v strip >/dev/null; then
	strip --strip-debug "$root/usr/bin/paddock" "$root/usr/bin/paddock-vmm" \
		"$root/usr/lib/paddock/guest-tools/paddock-agent"
fi
# Desktops match the entry's file name to the application ID.
install -D -m 0644 packaging/paddock.desktop "$root/usr/share/applications/$app_id.desktop"
install -D -m 0644 packaging/$app_id.metainfo.xml "$root/usr/share/metainfo/$app_id.metainfo.xml"
install -D -m 0644 assets/paddock.svg "$root/usr/share/icons/hicolor/scalable/apps/$app_id.svg"
for size in 256 128 64 48; do
	install -D -m 0644 "assets/paddock-$size.png" "$root/usr/share/icons/hicolor/${size}x${size}/apps/$app_id.png"
done

# shlib_depends FILE...: the packages holding the shared libraries the programs link, as a Depends list.
shlib_depends() {
	if command -v dpkg-shlibdeps >/dev/null; then
		printf 'Source: paddock\n\nPackage: paddock\nArchitecture: %s\n' "$arch" >"$work/debian/control"
		(cd "$work" && dpkg-shlibdeps -O "${@/#/-e}") | sed -n 's/^shlibs:Depends=//p'
		return
	fi
	# Without dpkg-dev: ask dpkg which package owns each library ldd resolves (under merged /usr, by either name).
	ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u | while read -r lib; do
		real=$(readlink -f "$lib")
		dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null ||
			dpkg -S "/usr$real" 2>/dev/null || { echo "paddock: no package owns $lib" >&2; return 1; }
	done | grep -v '^diversion ' | cut -d: -f1 | sort -u | paste -sd, - | sed 's/,/, /g'
}
mkdir -p "$root/DEBIAN" # also how dpkg-shlibdeps finds the package's root
shlibs=$(shlib_depends "$root/usr/bin/paddock")
[ -n "$shlibs" ] || { echo "paddock: found no shared libraries for bin/paddock" >&2; exit 1; }
# SeaBIOS boots ISOs and installed disks. GLFW (the toolkit's windowing) opens these X11 extension libraries
# at run time rather than linking them, so no tool sees them.
depends="seabios, $shlibs, libxcursor1, libxi6, libxinerama1, libxrandr2, libxxf86vm1"

cat >"$root/DEBIAN/control" <<EOF
Package: paddock
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Section: otherosfs
Priority: optional
Description: desktop hypervisor with sharing off by default
 Paddock runs virtual machines on KVM, each on its own small engine in its own
 sandboxed process, and shows their screens in windows. The clipboard and
 shared folders are off until opened per machine, and every crossing between
 guest and host is written to an audit log.
 .
 The guest agent for clipboard sharing is in /usr/lib/paddock/guest-tools;
 "paddock guest-tools" writes an ISO image with it for the guest.
EOF

deb="$out/paddock_${version}_${arch}.deb"
dpkg-deb --build --root-owner-group "$root" "$deb"
