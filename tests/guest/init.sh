#!/bin/sh
# /init of Paddock's Linux test guest: loads the virtio modules, runs the test named by paddock.test= on the
# kernel command line and reports "PADDOCK-TEST <name> PASS|FAIL <detail>" on the console, then powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1

arg() {
	for word in $(cat /proc/cmdline); do
		case "$word" in "$1="*) echo "${word#*=}"; return ;; esac
	done
}

TEST=$(arg paddock.test)
pass() { echo "PADDOCK-TEST $TEST PASS $*"; }
fail() { echo "PADDOCK-TEST $TEST FAIL $*"; }
finish() { sync; poweroff -f; sleep 10; }

# Wait (bounded) for a device node or sysfs file to appear.
wait_for() {
	i=0
	while [ ! -e "$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e "$1" ]
}

# wait_long PATH: wait_for for devices found by a bus scan (SCSI), which may take longer: up to 30 s.
wait_long() {
	i=0
	while [ ! -e "$1" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e "$1" ]
}

# reading PID DEV: waits (bounded) until process PID (a busybox dd, whose input is descriptor 0) has DEV open.
# Input events reach only readers that have the device open when they happen.
reading() {
	i=0
	while [ "$(readlink "/proc/$1/fd/0" 2>/dev/null)" != "$2" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ "$(readlink "/proc/$1/fd/0" 2>/dev/null)" = "$2" ]
}

# arm_power_button starts a reader on every ACPI "Power Button" input device (`paddock stop` presses it) and
# returns once they are all reading; await_power_button then waits (bounded) for a press. Tests that leave the VM
# running while the host looks at it (screenshots, typed keys, pointer moves) end this way.
arm_power_button() {
	rm -f /tmp/pressed.*
	armed=""
	for dev in /sys/class/input/input*; do
		[ "$(cat "$dev/name" 2>/dev/null)" = "Power Button" ] || continue
		for ev in "$dev"/event*; do
			[ -e "$ev" ] || continue
			ev=/dev/input/${ev##*/}
			wait_for "$ev" || continue
			dd if="$ev" of="/tmp/pressed.${ev##*/}" bs=24 count=1 2>/dev/null &
			reading $! "$ev" && armed="$armed ${ev##*/}"
		done
	done
	[ -n "$armed" ]
}
pressed() {
	for f in /tmp/pressed.*; do [ -s "$f" ] && echo "${f#/tmp/pressed.}" && return; done
	return 1
}
await_power_button() {
	i=0
	while ! pressed >/dev/null && [ $i -lt 6000 ]; do sleep 0.1; i=$((i + 1)); done
	pressed >/dev/null
}

# The input device named $1 as /dev/input/eventN, waiting (bounded) for its driver; empty if there is none.
input_event_dev() {
	i=0
	while [ $i -lt 100 ]; do
		for dev in /sys/class/input/input*; do
			if [ "$(cat "$dev/name" 2>/dev/null)" = "$1" ]; then
				for ev in "$dev"/event*; do
					if [ -e "$ev" ] && wait_for "/dev/input/${ev##*/}"; then
						echo "/dev/input/${ev##*/}"
						return
					fi
				done
			fi
		done
		sleep 0.1
		i=$((i + 1))
	done
}

# Stops the text console from drawing on the framebuffer (cursor blink, unbind fbcon), so only the test's own
# pixels are there. Prints what it did.
quiet_fbcon() {
	printf '\033[?25l' >/dev/tty1 2>/dev/null
	echo 0 >/sys/class/graphics/fbcon/cursor_blink 2>/dev/null
	for vc in /sys/class/vtconsole/vtcon*; do
		case "$(cat "$vc/name" 2>/dev/null)" in
		*"frame buffer"*)
			if echo 0 >"$vc/bind" 2>/dev/null; then echo "fbcon=unbound"; else echo "fbcon=bound"; fi
			return
			;;
		esac
	done
	echo "fbcon=none"
}

# repeat FILE BYTES: FILE's contents repeated and cut to exactly BYTES bytes (files, since shell strings cannot
# hold the zero bytes of a pixel).
repeat() {
	cp "$1" "$1.rep"
	while [ "$(wc -c <"$1.rep")" -lt "$2" ]; do
		cat "$1.rep" "$1.rep" >"$1.tmp" && mv "$1.tmp" "$1.rep"
	done
	head -c "$2" "$1.rep" >"$1"
	rm -f "$1.rep"
}

# pixel RRGGBB FILE: one XRGB8888 pixel as it lies in memory (little-endian: blue, green, red, unused).
pixel() {
	c=$((0x$1))
	printf "$(printf '\\%03o\\%03o\\%03o\\000' $((c & 255)) $((c >> 8 & 255)) $((c >> 16 & 255)))" >"$2"
}

# The fb test's pattern: four horizontal bands, rows [i*H/4, (i+1)*H/4), each with one colour left of column W/2
# and another from there on. tests/linux/display_test.go expects exactly these colours.
FB_COLOURS="ff0000 00ff00 0000ff ffffff 123456 654321 a0b0c0 0c0b0a"

# draw_pattern W H STRIDE OUT: writes the pattern to OUT.
draw_pattern() {
	w=$1 h=$2 stride=$3 out=$4
	set -- $FB_COLOURS
	: >/tmp/screen
	band=0
	while [ $band -lt 4 ]; do
		pixel "$1" /tmp/left && repeat /tmp/left $((w / 2 * 4))
		pixel "$2" /tmp/right && repeat /tmp/right $(((w - w / 2) * 4))
		cat /tmp/left /tmp/right >/tmp/row
		head -c $((stride - w * 4)) /dev/zero >>/tmp/row
		rows=$(((band + 1) * h / 4 - band * h / 4))
		repeat /tmp/row $((rows * stride))
		cat /tmp/row >>/tmp/screen
		shift 2
		band=$((band + 1))
	done
	cat /tmp/screen >"$out"
}

# The events in an evdev dump (struct input_event on x86-64: 16 bytes of time, u16 type, u16 code, s32 value),
# one "type code value" line each.
decode_events() {
	od -A n -v -t d4 "$1" | awk '{
		for (i = 1; i <= NF; i++) {
			n++
			if (n % 6 == 5) tc = $i
			if (n % 6 == 0) printf "%d %d %d\n", tc % 65536, int(tc / 65536), $i
		}
	}'
}

fb_test() {
	size=$(arg paddock.fb)
	want_w=${size%x*} want_h=${size#*x}
	if ! wait_for /dev/fb0; then
		dmesg | grep -i -e fb -e framebuffer
		fail "no /dev/fb0"
		return
	fi
	sys=/sys/class/graphics/fb0
	name=$(cat $sys/name) vsize=$(cat $sys/virtual_size) bpp=$(cat $sys/bits_per_pixel) stride=$(cat $sys/stride)
	detail="name='$name' virtual_size=$vsize bits_per_pixel=$bpp stride=$stride"
	case "$name" in
	"VESA VGA" | simple | simpledrmdrmfb) ;;
	*) fail "fb0 is not the firmware framebuffer: $detail"; return ;;
	esac
	if [ "$vsize" != "$want_w,$want_h" ] || [ "$bpp" != 32 ] || [ "$stride" -lt $((want_w * 4)) ]; then
		fail "$detail; want virtual_size=$want_w,$want_h bits_per_pixel=32"
		return
	fi
	con=$(quiet_fbcon)
	if ! draw_pattern "$want_w" "$want_h" "$stride" /dev/fb0; then
		fail "writing /dev/fb0 failed"
		return
	fi
	if ! arm_power_button; then
		fail "no Power Button input device"
		return
	fi
	echo "PADDOCK-TEST fb READY $detail $con"
	if await_power_button; then pass "$detail"; else fail "no power button press"; fi
}

console_test() {
	if ! grep -q '^tty0 ' /proc/consoles; then
		fail "tty0 is not a kernel console: $(cat /proc/consoles)"
		return
	fi
	bound=""
	for vc in /sys/class/vtconsole/vtcon*; do
		case "$(cat "$vc/name" 2>/dev/null)" in *"frame buffer"*) bound=$(cat "$vc/bind") ;; esac
	done
	if [ "$bound" != 1 ]; then
		fail "fbcon is not the bound text console (bind='$bound')"
		return
	fi
	if ! arm_power_button; then
		fail "no Power Button input device"
		return
	fi
	echo "PADDOCK-TEST console READY fb0='$(cat /sys/class/graphics/fb0/name)'"
	if await_power_button; then pass "fbcon bound"; else fail "no power button press"; fi
}

keyboard_test() {
	i=0
	while ! grep -q 'AT Translated Set 2 keyboard' /proc/bus/input/devices && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if ! grep -q 'AT Translated Set 2 keyboard' /proc/bus/input/devices; then
		grep -e '^N:' /proc/bus/input/devices
		dmesg | grep -i -e i8042 -e atkbd -e serio
		fail "no PS/2 keyboard (atkbd) in /proc/bus/input/devices"
		return
	fi
	if ! arm_power_button; then
		fail "no Power Button input device"
		return
	fi
	# A shell reading the first virtual terminal, where the keyboard types. It says READY only once tty1 is
	# open, so no typed key is lost; its standard output is not a terminal, so it reads whole lines, no editing.
	setsid sh -c 'exec </dev/tty1 2>/dev/tty1 >/dev/null
		echo "PADDOCK-TEST keyboard READY" >/dev/console
		exec sh' &
	if await_power_button; then pass "shell on tty1"; else fail "no power button press"; fi
}

pointer_test() {
	ev=$(input_event_dev "Paddock Tablet")
	if [ -z "$ev" ]; then
		grep -e '^N:' /proc/bus/input/devices
		fail "no input device named 'Paddock Tablet'"
		return
	fi
	dd if="$ev" of=/tmp/events bs=24 2>/dev/null &
	reader=$!
	if ! reading $reader "$ev"; then
		fail "cannot read $ev"
		return
	fi
	echo "PADDOCK-TEST pointer READY $ev"
	# Done at the left button's release (EV_KEY 1, BTN_LEFT 272, value 0).
	i=0
	while ! decode_events /tmp/events | grep -q '^1 272 0$' && [ $i -lt 1200 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill $reader 2>/dev/null
	decode_events /tmp/events | sed 's/^/PADDOCK-EVENT /'
	n=$(decode_events /tmp/events | wc -l)
	if decode_events /tmp/events | grep -q '^1 272 0$'; then
		pass "events=$n"
	else
		fail "no left button release among $n events"
	fi
}

# The CD-ROM: the kernel finds the virtio-scsi drive as /dev/sr0, and reads it whole. The host compares the size and
# digest with its ISO file.
sr0_test() {
	if ! wait_long /dev/sr0; then
		dmesg | grep -i -e scsi -e ' sr' -e cdrom
		fail "no /dev/sr0"
		return
	fi
	size=$(($(cat /sys/block/sr0/size) * 512))
	sum=$(sha256sum </dev/sr0 | cut -d' ' -f1)
	bytes=$(wc -c </dev/sr0)
	if [ -z "$sum" ] || [ "$bytes" != "$size" ]; then
		fail "read $bytes bytes of a $size-byte /dev/sr0"
	else
		pass "sha256=$sum bytes=$bytes"
	fi
}

# The installer, as a BIOS installer works: one bootable FAT partition on the blank /dev/vda (from sector 2048),
# the kernel, initramfs, grub.cfg and GRUB's modules copied from the CD into its /boot, and GRUB's boot code (the
# MBR's 440 bytes and core.img in the gap before the partition, both prepared on the host and carried on the CD
# under /install) written to the disk. Then it reboots.
install_test() {
	if ! wait_long /dev/sr0; then
		fail "no /dev/sr0"
		return
	fi
	if ! wait_for /dev/vda; then
		fail "no /dev/vda"
		return
	fi
	if [ -n "$(dd if=/dev/vda bs=512 count=1 2>/dev/null | tr -d '\000')" ]; then
		fail "/dev/vda is not blank"
		return
	fi
	mkdir -p /cdrom /target
	if ! mount -t iso9660 -o ro /dev/sr0 /cdrom; then
		fail "cannot mount /dev/sr0"
		return
	fi
	for f in boot/vmlinuz boot/initramfs.cpio.gz boot/grub/i386-pc/fat.mod install/grub.cfg install/boot.img install/core.img; do
		if [ ! -f "/cdrom/$f" ]; then
			fail "the CD has no /$f"
			return
		fi
	done
	# o: new DOS label; n p 1 2048 (default end): partition 1; t c: FAT32 (LBA); a 1: bootable; w: write.
	if ! printf 'o\nn\np\n1\n2048\n\nt\nc\na\n1\nw\n' | fdisk -u /dev/vda >/tmp/fdisk.log 2>&1; then
		cat /tmp/fdisk.log
		fail "fdisk failed"
		return
	fi
	if ! wait_for /dev/vda1; then
		cat /tmp/fdisk.log
		fail "no /dev/vda1 after partitioning"
		return
	fi
	if ! mkdosfs -n PADDOCK /dev/vda1 >/tmp/mkdosfs.log 2>&1; then
		cat /tmp/mkdosfs.log
		fail "mkdosfs failed"
		return
	fi
	if ! mount -t vfat /dev/vda1 /target; then
		fail "cannot mount the new filesystem"
		return
	fi
	if ! mkdir -p /target/boot/grub ||
		! cp /cdrom/boot/vmlinuz /cdrom/boot/initramfs.cpio.gz /target/boot/ ||
		! cp /cdrom/install/grub.cfg /target/boot/grub/grub.cfg ||
		! cp -r /cdrom/boot/grub/i386-pc /target/boot/grub/; then
		fail "copying /boot failed"
		return
	fi
	mods=$(ls /target/boot/grub/i386-pc | wc -l)
	umount /target && umount /cdrom
	# GRUB's boot code, once the filesystem is closed: the MBR's code area (the partition table after it stays)
	# and core.img from sector 1.
	mount -t iso9660 -o ro /dev/sr0 /cdrom
	if ! dd if=/cdrom/install/boot.img of=/dev/vda bs=440 count=1 conv=notrunc,fsync 2>/dev/null ||
		! dd if=/cdrom/install/core.img of=/dev/vda bs=512 seek=1 conv=notrunc,fsync 2>/dev/null; then
		fail "writing GRUB's boot code failed"
		return
	fi
	umount /cdrom
	sync
	pass "partition=$(cat /sys/block/vda/vda1/size) grub-modules=$mods; rebooting"
	reboot -f
	sleep 10
}

# The installed system: booted by the GRUB the installer wrote, from the disk alone.
installed_test() {
	if ! wait_for /dev/vda1; then
		fail "no /dev/vda1"
		return
	fi
	mkdir -p /target
	if ! mount -t vfat -o ro /dev/vda1 /target; then
		fail "cannot mount /dev/vda1"
		return
	fi
	if ! grep -q 'paddock.test=installed' /target/boot/grub/grub.cfg; then
		fail "/dev/vda1 holds no installed grub.cfg"
	else
		pass "loader=$(arg paddock.loader) kernel=$(sha256sum </target/boot/vmlinuz | cut -d' ' -f1)"
	fi
	umount /target
}

# mount_share TAG DIR: mounts the folder share TAG (virtio-9p) on DIR.
mount_share() {
	mkdir -p "$2"
	mount -t 9p -o trans=virtio,version=9p2000.L "$1" "$2"
}

# Folder shares. The read-only share (paddock.ro=TAG) holds data.bin, note.txt and symlinks the host placed that
# point outside it; the read-write one (paddock.rw=TAG) starts empty. Each "PADDOCK-SHARE" line is for the host
# to check: what the guest read, which writes the read-only share let through (none may), and what the guest
# left in the read-write share.
share_test() {
	ro=$(arg paddock.ro) rw=$(arg paddock.rw)
	if ! mount_share "$ro" /mnt/ro; then
		dmesg | grep -i 9p
		fail "cannot mount the share '$ro'"
		return
	fi
	if ! mount_share "$rw" /mnt/rw; then
		fail "cannot mount the share '$rw'"
		return
	fi
	echo "PADDOCK-SHARE read data.bin $(sha256sum </mnt/ro/data.bin | cut -d' ' -f1) $(wc -c </mnt/ro/data.bin)"
	echo "PADDOCK-SHARE list $(ls /mnt/ro | tr '\n' ' ')"
	# The host's symlinks lead nowhere outside the share: the guest resolves them in its own tree.
	for l in up abs; do
		echo "PADDOCK-SHARE link $l -> $(readlink /mnt/ro/$l) reads '$(cat /mnt/ro/$l 2>/dev/null)'"
	done
	wrote=""
	cd /mnt/ro || return
	echo x >new.txt 2>/dev/null && wrote="$wrote create"
	echo x >>note.txt 2>/dev/null && wrote="$wrote append"
	truncate -s 0 note.txt 2>/dev/null && wrote="$wrote truncate"
	chmod 777 note.txt 2>/dev/null && wrote="$wrote chmod"
	mv note.txt moved.txt 2>/dev/null && wrote="$wrote rename"
	rm data.bin 2>/dev/null && wrote="$wrote remove"
	mkdir newdir 2>/dev/null && wrote="$wrote mkdir"
	ln -s note.txt link 2>/dev/null && wrote="$wrote symlink"
	ln note.txt hard 2>/dev/null && wrote="$wrote hardlink"
	mkfifo fifo 2>/dev/null && wrote="$wrote mkfifo"
	touch -d '2001-01-01 00:00' note.txt 2>/dev/null && wrote="$wrote touch"
	cd /
	echo "PADDOCK-SHARE ro-writes:${wrote:- none}"
	# The read-write share: a file written, a copy of data.bin, and what the host must refuse even there.
	echo "written by the guest" >/mnt/rw/from-guest.txt
	cp /mnt/ro/data.bin /mnt/rw/copy.bin
	chmod 4755 /mnt/rw/copy.bin 2>/dev/null
	mknod /mnt/rw/null c 1 3 2>/dev/null && echo "PADDOCK-SHARE rw made a device node"
	mkfifo /mnt/rw/fifo 2>/dev/null && echo "PADDOCK-SHARE rw made a FIFO"
	sync
	umount /mnt/rw
	umount /mnt/ro
	if [ -n "$wrote" ]; then
		fail "the read-only share took:$wrote"
	else
		pass "ro refused every write"
	fi
}

# The agent's virtio-console port as a device node: udev would name it /dev/virtio-ports/<name>; without udev,
# find the port whose name it is. Waits (bounded) for the port to appear.
agent_port() {
	i=0
	while [ $i -lt 100 ]; do
		for p in /sys/class/virtio-ports/*; do
			if [ "$(cat "$p/name" 2>/dev/null)" = "$1" ] && wait_for "/dev/${p##*/}"; then
				echo "/dev/${p##*/}"
				return
			fi
		done
		sleep 0.1
		i=$((i + 1))
	done
}

# The clipboard: paddock-agent (added to the initramfs by the test) reads the host clipboard, then offers
# paddock.clip= for it. The host side may attach a little after boot, and re-attaches after each program closes
# the port, so each is retried (bounded).
clip_test() {
	if [ ! -x /bin/paddock-agent ]; then
		fail "no /bin/paddock-agent in the initramfs"
		return
	fi
	port=$(agent_port org.paddock.agent.0)
	if [ -z "$port" ]; then
		ls /sys/class/virtio-ports/ 2>&1
		fail "no virtio port named org.paddock.agent.0"
		return
	fi
	i=0
	until got=$(paddock-agent -port "$port" -timeout 20s clip get); do
		i=$((i + 1))
		if [ $i -ge 6 ]; then
			fail "clip get found no host"
			return
		fi
		sleep 1
	done
	echo "PADDOCK-CLIP host=$got"
	i=0
	until paddock-agent -port "$port" -timeout 20s clip set "$(arg paddock.clip)"; do
		i=$((i + 1))
		if [ $i -ge 3 ]; then
			fail "clip set failed"
			return
		fi
		sleep 1
	done
	pass "port=$port"
}

for m in $(cat /etc/modules.order); do
	insmod "/lib/modules/$m.ko" || echo "paddock-init: insmod $m failed"
done

case "$TEST" in
boot)
	pass "kernel=$(uname -r)"
	;;
cpus)
	want=$(arg paddock.cpus)
	have=$(grep -c '^processor' /proc/cpuinfo)
	if [ "$have" = "$want" ]; then pass "cpus=$have"; else fail "cpus=$have want=$want"; fi
	;;
blk)
	# The host wrote PADDOCK-DISK-READ at offset 0; the guest writes PADDOCK-DISK-WRITTEN at offset 4096 and
	# flushes, and the host checks the image afterwards.
	if ! wait_for /dev/vda; then
		fail "no /dev/vda"
	else
		head=$(dd if=/dev/vda bs=512 count=1 2>/dev/null | head -c 17)
		sectors=$(cat /sys/block/vda/size)
		if [ "$head" != "PADDOCK-DISK-READ" ]; then
			fail "sector 0 reads '$head'"
		elif ! printf 'PADDOCK-DISK-WRITTEN' | dd of=/dev/vda bs=512 seek=8 conv=notrunc,fsync 2>/dev/null; then
			fail "write failed"
		else
			pass "sectors=$sectors"
		fi
	fi
	;;
blk-ro)
	if ! wait_for /dev/vda; then
		fail "no /dev/vda"
	elif [ "$(cat /sys/block/vda/ro)" != 1 ]; then
		fail "/dev/vda is not read-only"
	elif printf 'x' | dd of=/dev/vda bs=512 seek=8 conv=notrunc,fsync 2>/dev/null; then
		fail "a write to the read-only disk succeeded"
	else
		pass "ro=1"
	fi
	;;
rng)
	if ! wait_for /dev/hwrng; then
		fail "no /dev/hwrng"
	else
		current=$(cat /sys/class/misc/hw_random/rng_current)
		n=$(dd if=/dev/hwrng bs=16 count=1 2>/dev/null | wc -c)
		case "$current" in
		virtio_rng*) if [ "$n" = 16 ]; then pass "rng=$current bytes=$n"; else fail "read $n bytes"; fi ;;
		*) fail "rng_current=$current" ;;
		esac
	fi
	;;
fb) fb_test ;;
console) console_test ;;
keyboard) keyboard_test ;;
pointer) pointer_test ;;
poweroff)
	pass "powering off"
	;;
reboot)
	pass "rebooting"
	sync
	reboot -f
	sleep 10
	;;
sr0) sr0_test ;;
install) install_test ;;
installed) installed_test ;;
share) share_test ;;
clip) clip_test ;;
stop)
	# The ACPI button driver turns the power button into a key event.
	if ! arm_power_button; then
		fail "no Power Button input device"
	else
		echo "PADDOCK-TEST stop WAITING"
		if await_power_button; then pass "power button on $(pressed)"; else fail "no power button press"; fi
	fi
	;;
*)
	fail "unknown test '$TEST'"
	;;
esac
finish
