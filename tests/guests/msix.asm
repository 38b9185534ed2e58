# msix: drives the virtio-rng function the way a virtio 1.x driver does, with its queue interrupt delivered as an
# MSI-X message straight to the LAPIC: one 16-byte buffer posted, one interrupt, one used entry.
	.include "common.inc"

	.set MSIX_VECTOR, 0x41
	.set TIMER_VECTOR, 0x42
	.set QSIZE, 4
	.set VIRTIO_RNG_ID, 0x10441af4
	.set BUF_LEN, 16

	.set CAP_VENDOR, 0x09
	.set CAP_MSIX, 0x11
	.set VIRTIO_CAP_COMMON, 1
	.set VIRTIO_CAP_NOTIFY, 2

	# struct virtio_pci_common_cfg
	.set CC_DFSELECT, 0x00
	.set CC_DF, 0x04
	.set CC_GFSELECT, 0x08
	.set CC_GF, 0x0c
	.set CC_MSIX_CONFIG, 0x10
	.set CC_STATUS, 0x14
	.set CC_Q_SELECT, 0x16
	.set CC_Q_SIZE, 0x18
	.set CC_Q_MSIX, 0x1a
	.set CC_Q_ENABLE, 0x1c
	.set CC_Q_NOTIFY_OFF, 0x1e
	.set CC_Q_DESC, 0x20
	.set CC_Q_DRIVER, 0x28
	.set CC_Q_DEVICE, 0x30

	.set S_ACK, 1
	.set S_DRIVER, 2
	.set S_DRIVER_OK, 4
	.set S_FEATURES_OK, 8

.macro FAIL msg
	PRINT "MSIX-FAIL \msg\n"
	ret
.endm

# WRITE64 value-reg, offset: a 64-bit register of the common configuration as two 32-bit writes, low half first.
.macro WRITE64 reg, off
	mov \reg, %rax
	mov %eax, \off(%rbx)
	shr $32, %rax
	mov %eax, \off+4(%rbx)
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

	# Memory space and bus mastering on.
	lea 4(%r15), %edi
	call pci_read16
	or $0x6, %eax
	mov %eax, %esi
	call pci_write16
	lea 6(%r15), %edi
	call pci_read16
	test $0x10, %eax
	jnz 2f
	FAIL "no capability list"

	# Walk the capability list (bounded: a looping list must not hang the guest).
2:	lea 0x34(%r15), %edi
	call pci_read8
	and $0xfc, %eax
	mov $48, %r14d
cap_loop:
	test %eax, %eax
	jz caps_done
	dec %r14d
	jz caps_done
	mov %eax, %r13d
	lea (%r15,%r13), %edi
	call pci_read8
	cmp $CAP_MSIX, %eax
	je msix_cap
	cmp $CAP_VENDOR, %eax
	je vendor_cap
next_cap:
	lea 1(%r15,%r13), %edi
	call pci_read8
	and $0xfc, %eax
	jmp cap_loop

msix_cap:
	cmpq $0, msix_table(%rip)
	jne next_cap
	mov %r13d, msix_cap_off(%rip)
	lea 4(%r15,%r13), %edi		# table offset and BIR
	call pci_read32
	mov %eax, %esi
	and $7, %esi
	and $~7, %eax
	mov %eax, %r12d
	mov %r15d, %edi
	call pci_bar
	test %rax, %rax
	jz next_cap
	add %r12, %rax
	mov %rax, msix_table(%rip)
	jmp next_cap

vendor_cap:
	lea 3(%r15,%r13), %edi		# cfg_type
	call pci_read8
	mov %eax, %r12d
	cmp $VIRTIO_CAP_COMMON, %r12d
	je 1f
	cmp $VIRTIO_CAP_NOTIFY, %r12d
	jne next_cap
1:	lea 8(%r15,%r13), %edi		# offset within the BAR
	call pci_read32
	mov %eax, %ebx
	lea 4(%r15,%r13), %edi		# BAR number
	call pci_read8
	mov %eax, %esi
	mov %r15d, %edi
	call pci_bar
	test %rax, %rax
	jz next_cap
	add %rbx, %rax
	cmp $VIRTIO_CAP_COMMON, %r12d
	jne 2f
	cmpq $0, common_cfg(%rip)
	jne next_cap
	mov %rax, common_cfg(%rip)
	jmp next_cap
2:	cmpq $0, notify_base(%rip)
	jne next_cap
	mov %rax, notify_base(%rip)
	lea 16(%r15,%r13), %edi		# notify_off_multiplier
	call pci_read32
	mov %eax, notify_mult(%rip)
	jmp next_cap

caps_done:
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
	cmpq $0, common_cfg(%rip)
	jne 1f
	FAIL "no common configuration capability"
1:	cmpq $0, notify_base(%rip)
	jne 1f
	FAIL "no notify capability"
1:	cmpq $0, msix_table(%rip)
	jne 1f
	FAIL "no MSI-X capability"

	# MSI-X table entry 0 -> this CPU's LAPIC, fixed delivery, MSIX_VECTOR; then MSI-X on.
1:	mov msix_table(%rip), %rbx
	call lapic_id
	shl $12, %eax
	or $LAPIC_BASE, %eax
	mov %eax, 0(%rbx)
	movl $0, 4(%rbx)
	movl $MSIX_VECTOR, 8(%rbx)
	movl $0, 12(%rbx)
	mov msix_cap_off(%rip), %edi
	lea 2(%r15,%rdi), %edi		# message control
	call pci_read16
	or $0x8000, %eax		# MSI-X enable
	and $~0x4000, %eax		# function mask off
	mov %eax, %esi
	call pci_write16

	# Virtio initialisation (virtio 1.2, 3.1.1).
	mov common_cfg(%rip), %rbx
	movb $0, CC_STATUS(%rbx)
	mov $1000, %ecx
2:	movzbl CC_STATUS(%rbx), %eax
	test %eax, %eax
	jz 3f
	dec %ecx
	jnz 2b
	FAIL "device status did not clear on reset"
3:	movb $S_ACK, CC_STATUS(%rbx)
	movb $(S_ACK | S_DRIVER), CC_STATUS(%rbx)
	movl $1, CC_DFSELECT(%rbx)
	mov CC_DF(%rbx), %eax
	test $1, %eax			# VIRTIO_F_VERSION_1 is bit 32
	jnz 4f
	FAIL "device does not offer VERSION_1"
4:	movl $0, CC_GFSELECT(%rbx)
	movl $0, CC_GF(%rbx)
	movl $1, CC_GFSELECT(%rbx)
	movl $1, CC_GF(%rbx)
	movb $(S_ACK | S_DRIVER | S_FEATURES_OK), CC_STATUS(%rbx)
	movzbl CC_STATUS(%rbx), %eax
	test $S_FEATURES_OK, %eax
	jnz 5f
	FAIL "device refused FEATURES_OK"
5:	movw $0xffff, CC_MSIX_CONFIG(%rbx)	# no configuration-change interrupt
	movw $0, CC_Q_SELECT(%rbx)
	movzwl CC_Q_SIZE(%rbx), %eax
	PRINT "QUEUE0 max="
	PRDEC %rax
	PRINT "\n"
	cmp $QSIZE, %eax
	jae 6f
	FAIL "queue 0 missing or too small"
6:	movw $QSIZE, CC_Q_SIZE(%rbx)
	lea vq_desc(%rip), %rdx
	WRITE64 %rdx, CC_Q_DESC
	lea vq_avail(%rip), %rdx
	WRITE64 %rdx, CC_Q_DRIVER
	lea vq_used(%rip), %rdx
	WRITE64 %rdx, CC_Q_DEVICE
	movw $0, CC_Q_MSIX(%rbx)
	movzwl CC_Q_MSIX(%rbx), %eax
	cmp $0xffff, %eax
	jne 7f
	FAIL "device refused MSI-X vector 0 for queue 0"
7:	movzwl CC_Q_NOTIFY_OFF(%rbx), %r12d
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
	.balign 8
common_cfg:	.quad 0
notify_base:	.quad 0
msix_table:	.quad 0
notify_mult:	.long 0
msix_cap_off:	.long 0
irq_seen:	.long 0
	.balign 4096
vq_desc:	.space 16 * QSIZE
	.balign 64
vq_avail:	.space 6 + 2 * QSIZE
	.balign 64
vq_used:	.space 6 + 8 * QSIZE
	.balign 64
rng_buf:	.space BUF_LEN
