# powerbutton: waits for the ACPI power button. The SCI's GSI, trigger and polarity come from the MADT's override
# for ISA IRQ 9 (the ACPI default without one: level, active low); PWRBTN_EN is set in PM1_EN. On the SCI it
# prints POWER-BUTTON, clears PWRBTN_STS and powers off.
	.include "common.inc"

	.set SCI_VECTOR, 0x39
	.set PWRBTN, 0x100
	.set REDIR_LEVEL, 0x8000
	.set REDIR_ACTIVE_LOW, 0x2000

	.text
main:
	mov $SCI_VECTOR, %edi
	lea sci_isr(%rip), %rsi
	call set_gate
	call lapic_enable

	mov $9, %r12d					# GSI
	mov $(REDIR_LEVEL | REDIR_ACTIVE_LOW), %r13d	# redirection flags
	mov $SIG_APIC, %edi
	call acpi_find
	test %rax, %rax
	jz 8f
	mov 4(%rax), %ecx
	lea (%rax,%rcx), %rdx				# end of the MADT
	lea 44(%rax), %rsi				# first entry
1:	lea 2(%rsi), %rax
	cmp %rdx, %rax
	ja 8f
	movzbl 1(%rsi), %ecx
	cmp $2, %ecx
	jb 8f						# a zero-length entry would loop forever
	cmpb $2, (%rsi)					# interrupt source override
	jne 7f
	cmpb $9, 3(%rsi)
	jne 7f
	mov 4(%rsi), %r12d
	movzwl 8(%rsi), %eax
	mov %eax, %r8d
	and $3, %r8d					# polarity: 1 high, 3 low, 0 bus default (low for the SCI)
	cmp $1, %r8d
	jne 2f
	and $~REDIR_ACTIVE_LOW, %r13d
2:	shr $2, %eax
	and $3, %eax					# trigger: 1 edge, 3 level, 0 bus default (level)
	cmp $1, %eax
	jne 7f
	and $~REDIR_LEVEL, %r13d
7:	add %rcx, %rsi
	jmp 1b
8:
	PRINT "SCI gsi="
	PRDEC %r12
	test $REDIR_LEVEL, %r13d
	jz 3f
	PRINT " level"
	jmp 4f
3:	PRINT " edge"
4:	test $REDIR_ACTIVE_LOW, %r13d
	jz 5f
	PRINT " low\n"
	jmp 6f
5:	PRINT " high\n"
6:
	mov %r12d, %edi
	mov %r13d, %esi
	or $SCI_VECTOR, %esi
	call ioapic_route

	mov $PM1A_EVT, %dx				# PM1_STS: clear a stale press (write 1 to clear)
	mov $PWRBTN, %ax
	out %ax, %dx
	mov $PM1A_EVT+2, %dx				# PM1_EN: PWRBTN_EN
	in %dx, %ax
	or $PWRBTN, %ax
	out %ax, %dx
	PRINT "WAITING\n"
	sti
9:	hlt
	jmp 9b

sci_isr:
	push %rax
	push %rdx
	mov $PM1A_EVT, %dx
	in %dx, %ax
	test $PWRBTN, %ax
	jz 1f
	PRINT "POWER-BUTTON\n"
	mov $PWRBTN, %ax
	out %ax, %dx
	call lapic_eoi
	call poweroff
1:	PRINT "SCI without PWRBTN_STS\n"
	call lapic_eoi
	pop %rdx
	pop %rax
	iretq
