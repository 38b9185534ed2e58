# fbflood: a guest that redraws its whole screen as fast as the CPU lets it, for display benchmarks. Kernel-mode
# code is slow on an emulating KVM, so the drawing runs at CPL3: the guest marks its identity map user-accessible,
# loads a GDT with user segments and a TSS ("RING3-SETUP"), and drops to ring 3 with iretq. There it fills every line of the
# framebuffer with one colour per frame, a different colour each frame, counting frames in flood_frames. It
# reports through a ud2 trap (ud_handler): "CPL3 ring=3" once (the ring of the caller's CS), then "FRAMES n"
# every 64 frames.
	.include "common.inc"

	.set KERNEL_CS, 0x10
	.set KERNEL_DS, 0x18
	.set USER_DS, 0x20 | 3
	.set USER_CS, 0x28 | 3
	.set TSS_SEL, 0x30
	.set PTE_PRESENT, 1
	.set PTE_USER, 4
	.set PTE_LARGE, 0x80
	.set CR4_SMEP, 1 << 20
	.set CR4_SMAP, 1 << 21
	.set REPORT_EVERY, 64
	.set SYS_HELLO, 1
	.set SYS_FRAMES, 2

	.text
main:
	call fb_probe
	cmp $-1, %rax
	jne 1f
	ret
1:	call user_paging
	call load_gdt
	PRINT "RING3-SETUP\n"
	mov $6, %edi			# #UD: ring 3's system call
	lea ud_handler(%rip), %rsi
	call set_gate
	# iretq's frame: SS, RSP, RFLAGS (interrupts off, bit 1 always set), CS, RIP.
	lea user_stack_top(%rip), %rax
	pushq $USER_DS
	push %rax
	pushq $0x0002
	pushq $USER_CS
	lea user_main(%rip), %rax
	push %rax
	iretq

# user_paging: marks every level of the identity map the boot CPU runs on user-accessible, and turns SMEP and
# SMAP off, since the kernel's own pages are now user pages too.
user_paging:
	push %rax
	push %rbx
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	mov %cr4, %rax
	and $~(CR4_SMEP | CR4_SMAP), %rax
	mov %rax, %cr4
	movabs $0x000ffffffffff000, %rdi	# the address bits of a table entry
	mov %cr3, %rbx
	and %rdi, %rbx			# PML4
	orq $PTE_USER, (%rbx)		# PML4[0]: the low 512 GiB
	mov (%rbx), %rsi
	and %rdi, %rsi			# PDPT
	xor %ecx, %ecx
1:	mov (%rsi,%rcx,8), %rax
	test $PTE_PRESENT, %rax
	jz 3f
	or $PTE_USER, %rax
	mov %rax, (%rsi,%rcx,8)
	test $PTE_LARGE, %rax		# a 1 GiB page has no directory below it
	jnz 3f
	and %rdi, %rax			# page directory
	xor %edx, %edx
2:	testq $PTE_PRESENT, (%rax,%rdx,8)
	jz 4f
	orq $PTE_USER, (%rax,%rdx,8)
4:	inc %edx
	cmp $512, %edx
	jb 2b
3:	inc %ecx
	cmp $4, %ecx			# the first 4 GiB: RAM below the hole, the framebuffer in it
	jb 1b
	mov %cr3, %rax			# flush the TLB
	mov %rax, %cr3
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rbx
	pop %rax
	ret

# load_gdt: this guest's GDT (kernel and user segments, a TSS whose RSP0 is the interrupt stack), new selectors
# in every segment register, the task register, and the exception gates again with the new code selector.
load_gdt:
	push %rax
	push %rdx
	lea tss(%rip), %rax
	lea interrupt_stack_top(%rip), %rdx
	mov %rdx, 4(%rax)		# RSP0
	movw $104, 102(%rax)		# I/O map base past the limit: no I/O bitmap, IOPL decides
	lea gdt_tss(%rip), %rdx		# the TSS descriptor's base, in its four pieces
	mov %ax, 2(%rdx)
	shr $16, %rax
	mov %al, 4(%rdx)
	mov %ah, 7(%rdx)
	shr $16, %rax
	mov %eax, 8(%rdx)
	lgdt gdt_descriptor(%rip)
	pop %rdx
	lea 1f(%rip), %rax
	pushq $KERNEL_CS
	push %rax
	lretq
1:	mov $KERNEL_DS, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %ax, %fs
	mov %ax, %gs
	mov $TSS_SEL, %ax
	ltr %ax
	movw $KERNEL_CS, boot_cs(%rip)
	call install_exception_handlers
	pop %rax
	ret

# user_main runs at CPL3 and never returns.
user_main:
	mov $SYS_HELLO, %eax
	ud2
	mov fb_height(%rip), %r8
	mov fb_width(%rip), %r9
	mov fb_stride(%rip), %r10
	xor %r11d, %r11d		# frame number
1:	mov %r11, %rax			# a colour that differs from the last frame's in every channel
	imul $0x00050709, %eax, %eax
	add $0x00402010, %eax
	and $0x00ffffff, %eax
	mov %eax, %edx
	shl $32, %rax
	or %rdx, %rax
	mov fb_base(%rip), %rsi
	mov %r8, %rbx
2:	mov %rsi, %rdi
	mov %r9, %rcx
	shr $1, %rcx
	rep stosq
	test $1, %r9b
	jz 3f
	stosl				# an odd pixel at the end of the line
3:	add %r10, %rsi
	dec %rbx
	jnz 2b
	inc %r11
	mov %r11, flood_frames(%rip)
	test $(REPORT_EVERY - 1), %r11
	jnz 1b
	mov $SYS_FRAMES, %eax
	mov %r11, %rdi
	ud2
	jmp 1b

# ud_handler: ring 3's way to print. A software KVM (kvm_pvm) refuses in/out at IOPL 3 (#GP), int $n from ring 3
# (#UD), and runs a syscall's target still in ring 3, but it does deliver exceptions: ring 3 executes ud2 with a request in %eax. SYS_HELLO prints the ring
# of the caller's CS ("CPL3 ring=3"), SYS_FRAMES the count in %rdi; then execution resumes after the ud2. Any
# other #UD is a failure, reported as common.inc does.
ud_handler:
	push %rax
	push %rsi
	mov 16(%rsp), %rsi		# the faulting instruction
	cmpw $0x0b0f, (%rsi)		# ud2
	jne 8f
	cmp $SYS_HELLO, %eax
	jne 1f
	mov 24(%rsp), %rax		# the caller's CS
	and $3, %eax
	PRINT "CPL3 ring="
	PRDEC %rax
	PRINT "\n"
	jmp 2f
1:	cmp $SYS_FRAMES, %eax
	jne 8f
	PRINT "FRAMES "
	PRDEC %rdi
	PRINT "\n"
2:	addq $2, 16(%rsp)
	pop %rsi
	pop %rax
	iretq
8:	pop %rsi
	pop %rax
	pushq $0
	pushq $6
	jmp exception_common

	.data
	.balign 16
gdt:
	.quad 0
	.quad 0
	.quad 0x00af9a000000ffff	# 0x10 kernel code, 64-bit
	.quad 0x00cf92000000ffff	# 0x18 kernel data
	.quad 0x00cff2000000ffff	# 0x20 user data, DPL 3
	.quad 0x00affa000000ffff	# 0x28 user code, 64-bit, DPL 3
gdt_tss:				# 0x30 available 64-bit TSS, 104 bytes; load_gdt fills in the base
	.word 103
	.word 0
	.byte 0
	.byte 0x89
	.byte 0
	.byte 0
	.long 0
	.long 0
gdt_end:
gdt_descriptor:
	.word gdt_end - gdt - 1
	.quad gdt

	.bss
	.balign 16
tss:		.space 104
	.balign 8
flood_frames:	.quad 0
	.balign 4096
	.space 8192
interrupt_stack_top:
	.space 8192
user_stack_top:
