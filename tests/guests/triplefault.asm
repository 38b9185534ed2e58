# triplefault: an IDT with no entries, then ud2: #UD finds no gate, nor do #GP and #DF: shutdown, which to the
# machine is a reset. (ud2 rather than int3: a software KVM that emulates guest kernel code may not emulate int3.)
	.include "common.inc"

	.text
main:
	PRINT "TRIPLE-FAULT-NEXT\n"
	lidt empty_idt(%rip)
	ud2
	PRINT "TRIPLE-FAULT-SURVIVED\n"
	call halt_forever

	.data
	.balign 16
empty_idt:
	.word 0
	.quad 0
