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

	# struct virtio_input_config
	.set IC_SELECT, 0
	.set IC_SUBSEL, 1
	.set IC_SIZE, 2
	.set IC_PAYLOAD, 8
	.set CFG_ID_NAME, 0x01
	.set CFG_ABS_INFO, 0x12


.macro FAIL msg
	PRINT "TABLET-FAIL \msg\n"
	ret
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

	VIRTIO_PCI_FIND_CAPS
	VIRTIO_PCI_REQUIRE_CAPS device=1
	MSIX_ROUTE_ENTRY0 MSIX_VECTOR
	VIRTIO_NEGOTIATE

	# The device's identity, as a driver reads it before it registers an input device.
	call print_config
	cmp $-1, %rax
	jne 1f
	ret
1:	VIRTQ0_SETUP "the event queue"
	movzwl CC_Q_NOTIFY_OFF(%rbx), %eax
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
	VIRTIO_PCI_BSS
notify_addr:	.quad 0
avail_idx:	.word 0
used_seen:	.word 0
	.balign 64
events:		.space EVENT_LEN * QSIZE
