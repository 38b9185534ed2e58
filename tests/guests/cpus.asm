# cpus: walks RSDP -> XSDT (or RSDT) -> MADT, prints each entry and "CPUS n", the number of enabled local APICs.
	.include "common.inc"

	.text
main:
	mov $SIG_APIC, %edi
	call acpi_find
	test %rax, %rax
	jnz 1f
	PRINT "CPUS-FAIL no MADT\n"
	ret
1:	mov %rax, %rbx
	PRINT "MADT at "
	PRHEX %rbx, 16
	PRINT " lapic="
	mov 36(%rbx), %eax
	PRHEX %rax, 8
	PRINT "\n"
	mov 4(%rbx), %ecx
	lea (%rbx,%rcx), %r12		# end of the table
	lea 44(%rbx), %r14		# first entry
	xor %r13d, %r13d		# enabled local APICs
2:	lea 2(%r14), %rax
	cmp %r12, %rax
	ja 9f
	movzbl (%r14), %eax
	movzbl 1(%r14), %r15d
	cmp $2, %r15d
	jb 8f
	cmp $0, %eax
	je 10f
	cmp $1, %eax
	je 11f
	cmp $2, %eax
	je 12f
	cmp $9, %eax
	je 13f
	PRINT "MADT type="
	PRHEX %rax, 2
	PRINT "\n"
	jmp 7f
10:	PRINT "MADT lapic uid="
	movzbl 2(%r14), %eax
	PRHEX %rax, 2
	PRINT " id="
	movzbl 3(%r14), %eax
	PRHEX %rax, 2
	PRINT " flags="
	mov 4(%r14), %eax
	PRHEX %rax, 8
	PRINT "\n"
	testl $1, 4(%r14)
	jz 7f
	inc %r13d
	jmp 7f
11:	PRINT "MADT ioapic id="
	movzbl 2(%r14), %eax
	PRHEX %rax, 2
	PRINT " addr="
	mov 4(%r14), %eax
	PRHEX %rax, 8
	PRINT " gsibase="
	mov 8(%r14), %eax
	PRDEC %rax
	PRINT "\n"
	jmp 7f
12:	PRINT "MADT override irq="
	movzbl 3(%r14), %eax
	PRDEC %rax
	PRINT " gsi="
	mov 4(%r14), %eax
	PRDEC %rax
	PRINT " flags="
	movzwl 8(%r14), %eax
	PRHEX %rax, 4
	PRINT "\n"
	jmp 7f
13:	PRINT "MADT x2apic id="
	mov 4(%r14), %eax
	PRHEX %rax, 8
	PRINT " flags="
	mov 8(%r14), %eax
	PRHEX %rax, 8
	PRINT "\n"
	testl $1, 8(%r14)
	jz 7f
	inc %r13d
7:	add %r15, %r14
	jmp 2b
8:	PRINT "MADT bad entry length\n"
9:	PRINT "CPUS "
	PRDEC %r13
	PRINT "\n"
	ret
