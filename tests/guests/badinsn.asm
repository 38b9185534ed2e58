# badinsn: jumps into the MMIO hole where nothing backs the address, so the CPU cannot fetch an instruction and
# KVM cannot emulate one: the engine must report an internal error and stop.
	.include "common.inc"

	.set TARGET, 0xd0000000

	.text
main:
	PRINT "JUMPING d0000000\n"
	mov $TARGET, %eax
	jmp *%rax
