# reset: counts its boots in CMOS RAM byte 0x40 (which survives a reset), prints "BOOT n", pulses the reset line
# through the i8042 on the first boot and powers off on the next.
	.include "common.inc"

	.set CMOS_BOOT_COUNT, 0x40

	.text
main:
	mov $CMOS_BOOT_COUNT, %al
	out %al, $0x70
	in $0x71, %al
	inc %al
	mov %al, %bl
	mov $CMOS_BOOT_COUNT, %al
	out %al, $0x70
	mov %bl, %al
	out %al, $0x71
	PRINT "BOOT "
	movzbl %bl, %eax
	PRDEC %rax
	PRINT "\n"
	cmp $1, %bl
	jne 3f
	PRINT "RESETTING\n"
	mov $10000, %ecx		# wait (bounded) for the controller's input buffer to be empty
1:	in $0x64, %al
	test $2, %al
	jz 2f
	loop 1b
2:	mov $0xfe, %al			# pulse the reset line
	out %al, $0x64
	call halt_forever
3:	ret
