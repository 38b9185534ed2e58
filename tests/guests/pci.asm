# pci: enumerates bus 0 through configuration mechanism #1 (0xCF8/0xCFC) and prints one line per function:
# "PCI bb:dd.f vvvv:dddd cccccc" (class, subclass, programming interface).
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
	ret
