# The start-up benchmark's guest: an ELF kernel with a PVH entry note, so Paddock and QEMU can both boot it
# directly. Its first instructions print one line on COM1; then it halts for good.
	.section .note.Xen, "a", @note
	.balign 4
	.long 4			# name size: "Xen\0"
	.long 4			# descriptor size
	.long 18		# XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.balign 4
	.long pvh_start
	.balign 4

	.text
	.code32
	.globl pvh_start
pvh_start:
	mov $0x3f8, %dx
	mov $'U', %al
	out %al, %dx
	mov $'P', %al
	out %al, %dx
	mov $'\n', %al
	out %al, %dx
1:	cli
	hlt
	jmp 1b
