# echo: interrupt-driven serial input. COM1's receive interrupt (ISA IRQ 4 = GSI 4, edge, active high) goes
# through the IOAPIC to the LAPIC; each byte received is echoed as <c> (or <#hh> if not printable); "q" powers off.
	.include "common.inc"

	.set UART_VECTOR, 0x24

	.text
main:
	mov $UART_VECTOR, %edi
	lea uart_isr(%rip), %rsi
	call set_gate
	call lapic_enable
	mov $4, %edi
	mov $UART_VECTOR, %esi		# fixed, physical, active high, edge, unmasked
	call ioapic_route
	mov $COM1+1, %dx		# IER: received data available
	mov $0x01, %al
	out %al, %dx
	mov $COM1+4, %dx		# MCR: DTR, RTS, OUT2 (the interrupt gate on a PC)
	mov $0x0b, %al
	out %al, %dx
	mov $COM1+2, %dx		# IIR, read once to settle any stale THRE interrupt
	in %dx, %al
	PRINT "READY\n"
	sti
1:	hlt
	jmp 1b

uart_isr:
	push %rax
	push %rcx
	push %rdx
	incq irq_count(%rip)
1:	mov $COM1+5, %dx		# LSR.DR: drain every byte that is there
	in %dx, %al
	test $1, %al
	jz 3f
	mov $COM1, %dx
	in %dx, %al
	movzbl %al, %ecx
	mov $'<', %al
	call putc
	cmp $0x20, %ecx
	jb 2f
	cmp $0x7e, %ecx
	ja 2f
	mov %ecx, %eax
	call putc
	mov $'>', %al
	call putc
	cmp $'q', %ecx
	je quit
	jmp 1b
2:	mov $'#', %al
	call putc
	PRHEX %rcx, 2
	mov $'>', %al
	call putc
	jmp 1b
3:	call lapic_eoi
	pop %rdx
	pop %rcx
	pop %rax
	iretq

quit:
	PRINT "\nIRQS "
	mov irq_count(%rip), %rax
	PRDEC %rax
	PRINT "\nBYE\n"
	call poweroff

	.bss
	.balign 8
irq_count:	.quad 0
