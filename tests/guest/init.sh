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
