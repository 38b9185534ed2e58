# msix: drives the virtio-rng function the way a virtio 1.x driver does, with its queue interrupt delivered as an
# MSI-X message straight to the LAPIC: one 16-byte buffer posted, one interrupt, one used entry.
	.include "common.inc"

	.set MSIX_VECTOR, 0x41
	.set TIMER_VECTOR, 0x42
	.set QSIZE, 4
	.set VIRTIO_RNG_ID, 0x10441af4
	.set BUF_LEN, 16


.macro FAIL msg
	PRINT "MSIX-FAIL \msg\n"
	ret
.endm

	.text
main:
	mov $MSIX_VECTOR, %edi
	lea msix_isr(%rip), %rsi
	call set_gate
	mov $TIMER_VECTOR, %edi
	lea timeout_isr(%rip), %rsi
	call set_gate
	call lapic_enable

	mov $VIRTIO_RNG_ID, %esi
	call pci_find
	cmp $-1, %eax
	jne 1f
	FAIL "no virtio-rng function on bus 0"
1:	mov %eax, %r15d
	PRINT "RNG at 00:"
	mov %r15d, %eax
	shr $11, %eax
	PRHEX %rax, 2
	PRINT "\n"

	VIRTIO_PCI_FIND_CAPS
	PRINT "CAPS common="
	mov common_cfg(%rip), %rax
	PRHEX %rax, 16
	PRINT " notify="
	mov notify_base(%rip), %rax
	PRHEX %rax, 16
	PRINT " mult="
	mov notify_mult(%rip), %eax
	PRHEX %rax, 8
	PRINT " msix-table="
	mov msix_table(%rip), %rax
	PRHEX %rax, 16
	PRINT "\n"
	VIRTIO_PCI_REQUIRE_CAPS
	MSIX_ROUTE_ENTRY0 MSIX_VECTOR
	VIRTIO_NEGOTIATE
	VIRTQ0_SETUP "queue 0", report=1
	movzwl CC_Q_NOTIFY_OFF(%rbx), %r12d
	movw $1, CC_Q_ENABLE(%rbx)
	movb $(S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK), CC_STATUS(%rbx)

	# One device-writable buffer, made available.
	lea rng_buf(%rip), %rax
	mov %rax, vq_desc(%rip)
	movl $BUF_LEN, vq_desc+8(%rip)
	movw $2, vq_desc+12(%rip)	# VIRTQ_DESC_F_WRITE
	movw $0, vq_desc+14(%rip)
	movw $0, vq_avail+4(%rip)	# ring[0] = descriptor 0
	movw $1, vq_avail+2(%rip)	# idx

	# Watchdog: a one-shot LAPIC timer, so a missing interrupt is reported rather than hanging.
	mov $LAPIC_BASE, %eax
	movl $0xa, 0x3e0(%rax)		# divide by 128
	movl $TIMER_VECTOR, 0x320(%rax)	# one-shot
	movl $40000000, 0x380(%rax)	# about 5 s at KVM's 1 GHz APIC bus

	# Notify queue 0.
	mov notify_mult(%rip), %eax
	imul %r12d, %eax
	add notify_base(%rip), %rax
	movw $0, (%rax)

8:	cli
	cmpl $0, irq_seen(%rip)
	jne 9f
	sti
	hlt
	jmp 8b
9:	mov $LAPIC_BASE, %eax
	movl $0, 0x380(%rax)		# watchdog off
	movzwl vq_used+2(%rip), %eax
	cmp $1, %eax
	je 10f
	PRINT "MSIX-FAIL interrupt but used.idx="
	PRDEC %rax
	PRINT "\n"
	ret
10:	mov vq_used+4(%rip), %eax	# used.ring[0].id
	test %eax, %eax
	jz 11f
	FAIL "used entry names the wrong descriptor"
11:	mov vq_used+8(%rip), %r13d	# used.ring[0].len
	PRINT "MSIX-OK n="
	PRDEC %r13
	PRINT "\nRNG-BYTES "
	lea rng_buf(%rip), %rsi
	mov $BUF_LEN, %ecx
12:	movzbl (%rsi), %eax
	PRHEX %rax, 2
	inc %rsi
	dec %ecx
	jnz 12b
	PRINT "\n"
	ret

msix_isr:
	movl $1, irq_seen(%rip)
	call lapic_eoi
	iretq

timeout_isr:
	PRINT "MSIX-FAIL timeout: no MSI-X interrupt; used.idx="
	movzwl vq_used+2(%rip), %eax
	PRDEC %rax
	PRINT "\n"
	call poweroff

	.bss
	VIRTIO_PCI_BSS
irq_seen:	.long 0
	.balign 64
rng_buf:	.space BUF_LEN
