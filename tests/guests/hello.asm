# hello: checks the Linux boot protocol from inside the guest and reports what it was given: the zero page, the
# segment selectors, the command line, the initrd and the e820 memory map.
	.include "common.inc"

	.set ZP_HDR_MAGIC, 0x202
	.set ZP_TYPE_OF_LOADER, 0x210
	.set ZP_RAMDISK_IMAGE, 0x218
	.set ZP_RAMDISK_SIZE, 0x21c
	.set ZP_EXT_RAMDISK_IMAGE, 0x0c0
	.set ZP_EXT_RAMDISK_SIZE, 0x0c4
	.set CMDLINE_LIMIT, 4096

	.text
main:
	PRINT "HELLO\n"
	mov boot_params(%rip), %rbx
	PRINT "ZEROPAGE "
	PRHEX %rbx, 16
	cmpl $0x53726448, ZP_HDR_MAGIC(%rbx)	# "HdrS"
	jne 1f
	PRINT " HdrS ok\n"
	jmp 2f
1:	PRINT " HdrS missing\n"
2:
	PRINT "LOADER "
	movzbl ZP_TYPE_OF_LOADER(%rbx), %eax
	PRHEX %rax, 2
	PRINT "\nSEGMENTS cs="
	movzwl boot_cs(%rip), %eax
	PRHEX %rax, 4
	PRINT " ds="
	movzwl boot_ds(%rip), %eax
	PRHEX %rax, 4
	PRINT " ss="
	movzwl boot_ss(%rip), %eax
	PRHEX %rax, 4
	PRINT "\nENTRY "
	lea startup_64(%rip), %rax
	PRHEX %rax, 16
	PRINT "\n"

	# The command line, bounded in case the terminating NUL is missing.
	mov ZP_CMD_LINE_PTR(%rbx), %eax
	mov ZP_EXT_CMD_LINE_PTR(%rbx), %edx
	shl $32, %rdx
	or %rdx, %rax
	PRINT "CMDLINE ["
	test %rax, %rax
	jz 4f
	mov %rax, %rsi
	mov $CMDLINE_LIMIT, %ecx
3:	lodsb
	test %al, %al
	jz 4f
	call putc
	dec %ecx
	jnz 3b
4:	PRINT "]\n"

	# The initrd, and its first bytes so a test can recognise its own file.
	mov ZP_RAMDISK_IMAGE(%rbx), %eax
	mov ZP_EXT_RAMDISK_IMAGE(%rbx), %edx
	shl $32, %rdx
	or %rdx, %rax
	mov %rax, %r12
	mov ZP_RAMDISK_SIZE(%rbx), %eax
	mov ZP_EXT_RAMDISK_SIZE(%rbx), %edx
	shl $32, %rdx
	or %rdx, %rax
	mov %rax, %r13
	PRINT "INITRD addr="
	PRHEX %r12, 16
	PRINT " size="
	PRHEX %r13, 16
	test %r13, %r13
	jz 6f
	PRINT " head="
	mov %r13, %rcx
	cmp $16, %rcx
	jbe 5f
	mov $16, %ecx
5:	movzbl (%r12), %eax
	PRHEX %rax, 2
	inc %r12
	dec %ecx
	jnz 5b
6:	PRINT "\n"

	# The e820 map: one line per entry, address, size and type.
	movzbl ZP_E820_ENTRIES(%rbx), %ecx
	PRINT "E820 COUNT "
	PRDEC %rcx
	PRINT "\n"
	cmp $128, %ecx
	jbe 7f
	PRINT "E820 COUNT TOO BIG\n"
	mov $128, %ecx
7:	lea ZP_E820_TABLE(%rbx), %rdx
	test %ecx, %ecx
	jz 9f
8:	PRINT "E820 "
	mov (%rdx), %rax
	PRHEX %rax, 16
	PRINT " "
	mov 8(%rdx), %rax
	PRHEX %rax, 16
	PRINT " "
	mov 16(%rdx), %eax
	PRDEC %rax
	PRINT "\n"
	add $20, %rdx
	dec %ecx
	jnz 8b
9:
	PRINT "ACPI-RSDP "
	mov ZP_ACPI_RSDP(%rbx), %rax
	PRHEX %rax, 16
	PRINT "\nPADDOCK-GUEST-OK\n"
	ret
