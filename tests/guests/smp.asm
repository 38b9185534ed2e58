# smp: starts the application processors the MADT lists, the way an OS does: INIT, then a start-up IPI to a
# real-mode trampoline below 1 MiB that counts itself in and halts. Prints "APS n" (n started) and "APS-OK" when
# every AP the MADT lists came up within 3 s.
	.include "common.inc"

	.set TRAMPOLINE, 0x10000	# page-aligned, below 1 MiB, clear of the engine's boot structures
	.set TIMER_VECTOR, 0x42
	.set TICK, 10000000		# 10 ms at KVM's 1 GHz APIC bus, divide by 1
	.set MAX_TICKS, 300

	.text
main:
	mov $TIMER_VECTOR, %edi
	lea timer_isr(%rip), %rsi
	call set_gate
	call lapic_enable
	call madt_cpus
	mov %rax, %r12
	PRINT "MADT CPUS "
	PRDEC %r12
	PRINT "\n"
	test %r12, %r12
	jnz 1f
	PRINT "APS-FAIL no MADT\n"
	ret
1:	dec %r12			# APs expected

	lea ap_trampoline(%rip), %rsi
	mov $TRAMPOLINE, %edi
	mov $(ap_trampoline_end - ap_trampoline), %ecx
	rep movsb
	mov $(TRAMPOLINE + ap_count - ap_trampoline), %ebx
	movw $0, (%rbx)

	mov $LAPIC_BASE, %eax
	movl $0, 0x310(%rax)
	movl $0x000c4500, 0x300(%rax)				# INIT to all but self
	movl $(0x000c4600 | (TRAMPOLINE >> 12)), 0x300(%rax)	# STARTUP to all but self
	movl $0xb, 0x3e0(%rax)					# timer: divide by 1
	movl $(TIMER_VECTOR | 0x20000), 0x320(%rax)		# periodic
	movl $TICK, 0x380(%rax)

2:	cli
	movzwl (%rbx), %eax
	cmp %r12, %rax
	jae 3f
	cmpl $MAX_TICKS, ticks(%rip)
	jae 3f
	sti
	hlt
	jmp 2b
3:	mov $LAPIC_BASE, %eax
	movl $0, 0x380(%rax)					# timer off
	movzwl (%rbx), %eax
	PRINT "APS "
	PRDEC %rax
	PRINT "\n"
	cmp %r12, %rax
	jne 4f
	PRINT "APS-OK\n"
4:	ret

timer_isr:
	incl ticks(%rip)
	call lapic_eoi
	iretq

# The AP's first code: real mode, CS = TRAMPOLINE >> 4, IP = 0.
	.code16
ap_trampoline:
	cli
	mov %cs, %ax
	mov %ax, %ds
	lock incw ap_count - ap_trampoline
1:	hlt
	jmp 1b
	.balign 2
ap_count:
	.word 0
ap_trampoline_end:
	.code64

	.bss
	.balign 4
ticks:	.long 0
