# fbpoke: damage from one pixel. Draws the test pattern once ("FB ...", "DRAWN"), sets the keyboard up
# ("KBD-READY"), then for every make code c (prefixes and break codes are skipped) inverts the one pixel at
# x = 10*c, y = 5*c and prints "POKE x y" ("POKE-OFF x y" when that is off the screen).
	.include "common.inc"

	.set KBD_VECTOR, 0x31

	.text
main:
	call fb_probe
	cmp $-1, %rax
	je 2f
	call fb_fill_pattern
	PRINT "DRAWN\n"
	KBD_LISTEN kbd_isr
2:	ret

kbd_isr:
	push %rax
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	mov $64, %ecx			# bytes per interrupt, bounded; more come with the next edge
1:	call kbd_read
	cmp $-1, %rax
	je 9f
	cmp $0x80, %eax			# break codes, 0xe0/0xe1 prefixes and mouse bytes make no pixel
	jae 8f
	imul $10, %eax, %edi
	imul $5, %eax, %esi
	call fb_pixel_address
	test %rax, %rax
	jz 2f
	xorl $0x00ffffff, (%rax)	# invert the colour: always a change, whatever was there
	PRINT "POKE "
	jmp 3f
2:	PRINT "POKE-OFF "
3:	PRDEC %rdi
	PRINT " "
	PRDEC %rsi
	PRINT "\n"
8:	loop 1b
9:	call lapic_eoi
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rax
	iretq
