# Sourced by packaging/install-and-run.sh and tests/run.sh: installs what Paddock needs and is missing.
# Debian 12 packages through apt-get (as root, or through sudo), Go tools through the Go module proxy.

STATICCHECK_VERSION=v0.8.2

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
		echo "paddock: need root to run: $*" >&2; return 1
	fi
}

# install_debs PKG...: installs the packages that are not installed yet.
install_debs() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "paddock: installing ${missing[*]}" >&2
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; then
		as_root apt-get update
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
	fi
}

# Run time: SeaBIOS boots ISOs and installed disks.
runtime_debs=(seabios)
# Build: the GUI toolkit (Fyne) uses cgo with OpenGL and X11.
build_debs=(gcc pkg-config libgl1-mesa-dev libx11-dev libxrandr-dev libxcursor-dev libxinerama-dev libxi-dev libxxf86vm-dev)
# Tests: GNU as/ld/objcopy assemble the small test guests; iasl checks the ACPI tables.
# Xvfb, xdotool and Mesa's software GL run and drive real windows headless.
# xorriso, ISOLINUX and GRUB build the test ISOs.
test_debs=(binutils acpica-tools xvfb xdotool libgl1-mesa-dri xauth
	xorriso isolinux syslinux-common grub-pc-bin grub-common mtools grub-efi-amd64-bin)

install_go_tools() {
	export PATH="$(go env GOPATH)/bin:$PATH"
	command -v staticcheck >/dev/null || go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
}
