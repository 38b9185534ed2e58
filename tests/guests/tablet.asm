# tablet: the virtio tablet driven as a virtio 1.x input driver with an MSI-X queue interrupt. Draws the test
# pattern first when there is a framebuffer ("DRAWN"), so a window showing the guest can be found on the host
# screen. Then finds the first 1af4:1052 function, reads its name ("TABLET-NAME text") and ABS_X range
# ("TABLET-ABSX min max"), posts QSIZE 8-byte device-writable buffers on the event queue, prints "TABLET-READY",
# and for every used buffer prints "EV tttt cccc vvvvvvvv" (type, code, value in hex) and posts it again. It idles
# until it is powered off from outside.
	.include "common.inc"

	.set MSIX_VECTOR, 0x41
	.set QSIZE, 16
	.set VIRTIO_INPUT_ID, 0x10521af4
	.set EVENT_LEN, 8

	.set CAP_VENDOR, 0x09
	.set CAP_MSIX, 0x11
	.set VIRTIO_CAP_COMMON, 1
	.set VIRTIO_CAP_NOTIFY, 2
	.set VIRTIO_CAP_DEVICE, 4

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

	# struct virtio_input_config
	.set IC_SELECT, 0
	.set IC_SUBSEL, 1
	.set IC_SIZE, 2
	.set IC_PAYLOAD, 8
	.set CFG_ID_NAME, 0x01
	.set CFG_ABS_INFO, 0x12

	.set S_ACK, 1
	.set S_DRIVER, 2
	.set S_DRIVER_OK, 4
	.set S_FEATURES_OK, 8

.macro FAIL msg
	PRINT "TABLET-FAIL \msg\n"
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
	call fb_probe
	cmp $-1, %rax
	je 1f
	call fb_fill_pattern
	PRINT "DRAWN\n"
1:	mov $MSIX_VECTOR, %edi
	lea msix_isr(%rip), %rsi
	call set_gate
	call lapic_enable

	mov $VIRTIO_INPUT_ID, %esi
	call pci_find
	cmp $-1, %eax
	jne 1f
	FAIL "no virtio-input function on bus 0"
1:	mov %eax, %r15d

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
	je 1f
	cmp $VIRTIO_CAP_DEVICE, %r12d
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
2:	cmp $VIRTIO_CAP_DEVICE, %r12d
	jne 3f
	cmpq $0, device_cfg(%rip)
	jne next_cap
	mov %rax, device_cfg(%rip)
	jmp next_cap
3:	cmpq $0, notify_base(%rip)
	jne next_cap
	mov %rax, notify_base(%rip)
	lea 16(%r15,%r13), %edi		# notify_off_multiplier
	call pci_read32
	mov %eax, notify_mult(%rip)
	jmp next_cap

caps_done:
	cmpq $0, common_cfg(%rip)
	jne 1f
	FAIL "no common configuration capability"
1:	cmpq $0, notify_base(%rip)
	jne 1f
	FAIL "no notify capability"
1:	cmpq $0, device_cfg(%rip)
	jne 1f
	FAIL "no device configuration capability"
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

	# The device's identity, as a driver reads it before it registers an input device.
5:	call print_config
	cmp $-1, %rax
	jne 6f
	ret

6:	movw $0xffff, CC_MSIX_CONFIG(%rbx)	# no configuration-change interrupt
	movw $0, CC_Q_SELECT(%rbx)
	movzwl CC_Q_SIZE(%rbx), %eax
	cmp $QSIZE, %eax
	jae 7f
	FAIL "event queue missing or too small"
7:	movw $QSIZE, CC_Q_SIZE(%rbx)
	lea vq_desc(%rip), %rdx
	WRITE64 %rdx, CC_Q_DESC
	lea vq_avail(%rip), %rdx
	WRITE64 %rdx, CC_Q_DRIVER
	lea vq_used(%rip), %rdx
	WRITE64 %rdx, CC_Q_DEVICE
	movw $0, CC_Q_MSIX(%rbx)
	movzwl CC_Q_MSIX(%rbx), %eax
	cmp $0xffff, %eax
	jne 8f
	FAIL "device refused MSI-X vector 0 for the event queue"
8:	movzwl CC_Q_NOTIFY_OFF(%rbx), %eax
	imul notify_mult(%rip), %eax
	add notify_base(%rip), %rax
	mov %rax, notify_addr(%rip)

	# Every descriptor is one device-writable event buffer, and every one is made available.
	lea vq_desc(%rip), %rdi
	lea events(%rip), %rdx
	xor %ecx, %ecx
9:	mov %rdx, (%rdi)
	movl $EVENT_LEN, 8(%rdi)
	movw $2, 12(%rdi)		# VIRTQ_DESC_F_WRITE
	movw $0, 14(%rdi)
	lea vq_avail+4(%rip), %rax
	mov %cx, (%rax,%rcx,2)		# ring[i] = descriptor i
	add $16, %rdi
	add $EVENT_LEN, %rdx
	inc %ecx
	cmp $QSIZE, %ecx
	jb 9b
	movw $QSIZE, vq_avail+2(%rip)	# idx
	movw $QSIZE, avail_idx(%rip)
	movw $1, CC_Q_ENABLE(%rbx)
	movb $(S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK), CC_STATUS(%rbx)
	mov notify_addr(%rip), %rax
	movw $0, (%rax)
	PRINT "TABLET-READY\n"

	# Wait for used buffers with interrupts on; check with them off, so that one arriving between the check
	# and hlt is not missed (sti; hlt takes it only after hlt).
event_loop:
	cli
	movzwl vq_used+2(%rip), %eax
	cmp used_seen(%rip), %ax
	jne 1f
	sti
	hlt
	jmp event_loop
1:	sti
	call drain_used
	jmp event_loop

# drain_used: prints every used buffer's event, gives its descriptor back to the device, then notifies once.
drain_used:
	push %rax
	push %rbx
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	mov $QSIZE, %edi		# at most a ring's worth per call: a device that races ahead waits for the next
1:	movzwl vq_used+2(%rip), %eax
	movzwl used_seen(%rip), %ecx
	cmp %cx, %ax
	je 8f
	and $(QSIZE - 1), %ecx
	lea vq_used+4(%rip), %rsi
	mov (%rsi,%rcx,8), %edx		# used.ring[i].id
	cmp $QSIZE, %edx
	jb 2f
	PRINT "TABLET-FAIL used entry names descriptor "
	PRDEC %rdx
	PRINT "\n"
	call poweroff
2:	mov 4(%rsi,%rcx,8), %eax	# used.ring[i].len
	cmp $EVENT_LEN, %eax
	je 3f
	PRINT "TABLET-FAIL used length "
	PRDEC %rax
	PRINT "\n"
	call poweroff
3:	lea events(%rip), %rsi
	lea (%rsi,%rdx,8), %rsi
	PRINT "EV "
	movzwl 0(%rsi), %eax
	PRHEX %rax, 4
	PRINT " "
	movzwl 2(%rsi), %eax
	PRHEX %rax, 4
	PRINT " "
	mov 4(%rsi), %eax
	PRHEX %rax, 8
	PRINT "\n"
	# Back on the available ring.
	movzwl avail_idx(%rip), %eax
	mov %eax, %ecx
	and $(QSIZE - 1), %ecx
	lea vq_avail+4(%rip), %rsi
	mov %dx, (%rsi,%rcx,2)
	inc %eax
	mov %ax, avail_idx(%rip)
	mov %ax, vq_avail+2(%rip)
	incw used_seen(%rip)
	dec %edi
	jnz 1b
8:	mov notify_addr(%rip), %rax
	movw $0, (%rax)
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rbx
	pop %rax
	ret

# print_config: "TABLET-NAME text" from VIRTIO_INPUT_CFG_ID_NAME and "TABLET-ABSX min max" from ABS_INFO for
# ABS_X. %rax = 0, or -1 after a TABLET-FAIL line.
print_config:
	push %rbx
	push %rcx
	push %rsi
	mov device_cfg(%rip), %rbx
	movb $CFG_ID_NAME, IC_SELECT(%rbx)
	movb $0, IC_SUBSEL(%rbx)
	movzbl IC_SIZE(%rbx), %ecx
	test %ecx, %ecx
	jnz 1f
	PRINT "TABLET-FAIL no name\n"
	jmp 8f
1:	PRINT "TABLET-NAME "
	cmp $128, %ecx
	jbe 2f
	mov $128, %ecx
2:	xor %esi, %esi
3:	movzbl IC_PAYLOAD(%rbx,%rsi), %eax
	cmp $0x20, %eax			# only printable bytes
	jb 4f
	cmp $0x7e, %eax
	ja 4f
	call putc
4:	inc %esi
	cmp %ecx, %esi
	jb 3b
	PRINT "\n"
	movb $CFG_ABS_INFO, IC_SELECT(%rbx)
	movb $0, IC_SUBSEL(%rbx)	# ABS_X
	movzbl IC_SIZE(%rbx), %ecx
	cmp $8, %ecx
	jae 5f
	PRINT "TABLET-FAIL no ABS_X range\n"
	jmp 8f
5:	PRINT "TABLET-ABSX "
	mov IC_PAYLOAD(%rbx), %eax
	PRDEC %rax
	PRINT " "
	mov IC_PAYLOAD+4(%rbx), %eax
	PRDEC %rax
	PRINT "\n"
	xor %eax, %eax
	jmp 9f
8:	mov $-1, %rax
9:	pop %rsi
	pop %rcx
	pop %rbx
	ret

# The interrupt only wakes the event loop from hlt.
msix_isr:
	call lapic_eoi
	iretq

	.bss
	.balign 8
common_cfg:	.quad 0
notify_base:	.quad 0
device_cfg:	.quad 0
msix_table:	.quad 0
notify_addr:	.quad 0
notify_mult:	.long 0
msix_cap_off:	.long 0
avail_idx:	.word 0
used_seen:	.word 0
	.balign 4096
vq_desc:	.space 16 * QSIZE
	.balign 64
vq_avail:	.space 6 + 2 * QSIZE
	.balign 64
vq_used:	.space 6 + 8 * QSIZE
	.balign 64
events:		.space EVENT_LEN * QSIZE
