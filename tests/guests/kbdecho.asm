# kbdecho: the PS/2 keyboard through the i8042, interrupt-driven. Sets the keyboard up (kbd_init in common.inc),
# routes IRQ 1 through the IOAPIC, prints "KBD-READY", then prints every byte read from port 0x60 as "SC xx"
# (a byte from the mouse port as "AUX xx"). It idles until it is powered off from outside.
	.include "common.inc"

	.set KBD_VECTOR, 0x31

	.text
main:
	KBD_LISTEN kbd_isr
	ret

kbd_isr:
	push %rax
	push %rcx
	mov $64, %ecx			# bytes per interrupt, bounded; more come with the next edge
1:	call kbd_read
	cmp $-1, %rax
	je 3f
	test $0x100, %eax
	jnz 2f
	PRINT "SC "
	PRHEX %rax, 2
	PRINT "\n"
	loop 1b
	jmp 3f
2:	PRINT "AUX "
	PRHEX %rax, 2
	PRINT "\n"
	loop 1b
3:	call lapic_eoi
	pop %rcx
	pop %rax
	iretq
