# pci: enumerates bus 0 through configuration mechanism #1 (0xCF8/0xCFC) and prints one line per function:
# "PCI bb:dd.f vvvv:dddd cccccc" (class, subclass, programming interface), then sizes each memory BAR the way
# Linux does (decode off, write all ones, read the mask back, restore) and prints
# "BAR bb:dd.f n address size mem32|mem64".
	.include "common.inc"

	.text
main:
	xor %ebx, %ebx			# functions found
	xor %edi, %edi			# bus 0, device 0, function 0
	xor %r12d, %r12d		# the current device is multi-function
1:	test $0x700, %edi
	jnz 2f
	xor %r12d, %r12d		# function 0: is the device there at all?
	call pci_read32
	cmp $0xffff, %ax
	je 3f
	call show
	add $0x0e, %edi			# header type, bit 7: multi-function
	call pci_read8
	sub $0x0e, %edi
	and $0x80, %eax
	mov %eax, %r12d
	jmp 3f
2:	test %r12d, %r12d
	jz 3f
	call pci_read32
	cmp $0xffff, %ax
	je 3f
	call show
3:	add $0x100, %edi
	cmp $0x10000, %edi
	jb 1b
	PRINT "PCI-DONE "
	PRDEC %rbx
	PRINT "\n"
	ret

# show: prints the function at %edi; %eax holds its vendor:device dword.
show:
	inc %ebx
	mov %eax, %r8d
	PRINT "PCI 00:"
	mov %edi, %eax
	shr $11, %eax
	and $0x1f, %eax
	PRHEX %rax, 2
	PRINT "."
	mov %edi, %eax
	shr $8, %eax
	and $7, %eax
	PRHEX %rax, 1
	PRINT " "
	mov %r8d, %eax
	PRHEX %rax, 4
	PRINT ":"
	mov %r8d, %eax
	shr $16, %eax
	PRHEX %rax, 4
	PRINT " "
	add $8, %edi
	call pci_read32
	sub $8, %edi
	shr $8, %eax
	PRHEX %rax, 6
	PRINT "\n"
	call size_bars
	ret

# size_bars: sizes and prints every memory BAR of the function at %edi (register 0), leaving each as it was.
size_bars:
	push %rbx
	push %rdx
	push %rsi
	push %rdi
	push %r8
	push %r9
	push %r10
	push %r12
	push %r13
	push %r14
	push %r15
	mov %edi, %r12d			# the function
	lea 4(%r12), %edi
	call pci_read16
	mov %eax, %r13d			# its command register
	xor %r14d, %r14d		# BAR index
1:	cmp $6, %r14d
	jae 9f
	lea 0x10(%r12,%r14,4), %edi
	call pci_read32
	mov %eax, %ebx			# the BAR as the engine assigned it
	test $1, %eax
	jnz 8f				# an I/O BAR: none expected, not sized here
	lea 4(%r12), %edi		# memory decode off while the BAR holds all ones
	mov %r13d, %esi
	and $~3, %esi
	call pci_write16
	lea 0x10(%r12,%r14,4), %edi
	mov $-1, %esi
	call pci_write32
	call pci_read32
	mov %eax, %r8d			# low mask
	mov %ebx, %esi
	call pci_write32
	xor %r10d, %r10d		# upper half of the address
	mov $-1, %r9d			# upper mask: all ones for a 32-bit BAR
	mov %ebx, %eax
	and $6, %eax
	mov %eax, %r15d			# 4: 64-bit
	cmp $4, %eax
	jne 2f
	lea 0x14(%r12,%r14,4), %edi
	call pci_read32
	mov %eax, %r10d
	mov $-1, %esi
	call pci_write32
	call pci_read32
	mov %eax, %r9d
	mov %r10d, %esi
	call pci_write32
2:	lea 4(%r12), %edi
	mov %r13d, %esi
	call pci_write16
	mov %r8d, %eax
	and $~0xf, %eax
	cmp $4, %r15d
	je 3f
	test %eax, %eax
	jz 8f				# not implemented
3:	mov %r9d, %edx
	shl $32, %rdx
	or %rax, %rdx
	not %rdx
	inc %rdx			# size
	PRINT "BAR 00:"
	mov %r12d, %eax
	shr $11, %eax
	and $0x1f, %eax
	PRHEX %rax, 2
	PRINT "."
	mov %r12d, %eax
	shr $8, %eax
	and $7, %eax
	PRHEX %rax, 1
	PRINT " "
	PRDEC %r14
	PRINT " "
	mov %r10, %rax
	shl $32, %rax
	mov %ebx, %esi
	and $~0xf, %esi
	or %rsi, %rax
	PRHEX %rax, 16
	PRINT " "
	PRHEX %rdx, 16
	cmp $4, %r15d
	jne 4f
	PRINT " mem64\n"
	jmp 5f
4:	PRINT " mem32\n"
5:	lea 0x10(%r12,%r14,4), %edi	# the BAR must read back as it was
	call pci_read32
	cmp %ebx, %eax
	je 6f
	PRINT "BAR-RESTORE-FAIL\n"
6:	cmp $4, %r15d
	jne 8f
	inc %r14d			# a 64-bit BAR takes two slots
8:	inc %r14d
	jmp 1b
9:	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %r10
	pop %r9
	pop %r8
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rbx
	ret
