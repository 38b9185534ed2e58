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
	# The ACPI button driver turns the power button into a key event; wait for one on every "Power Button".
	events=""
	for dev in /sys/class/input/input*; do
		if [ "$(cat "$dev/name" 2>/dev/null)" = "Power Button" ]; then
			for ev in "$dev"/event*; do [ -e "$ev" ] && events="$events ${ev##*/}"; done
		fi
	done
	if [ -z "$events" ]; then
		fail "no Power Button input device"
	else
		for ev in $events; do
			(dd if="/dev/input/$ev" bs=24 count=1 of=/dev/null 2>/dev/null && echo "$ev" >/tmp/pressed) &
		done
		echo "PADDOCK-TEST stop WAITING"
		while [ ! -e /tmp/pressed ]; do sleep 0.1; done
		pass "power button on $(cat /tmp/pressed)"
	fi
	;;
*)
	fail "unknown test '$TEST'"
	;;
esac
finish
