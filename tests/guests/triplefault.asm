# triplefault: an IDT with no entries, then int3: #GP, #DF, shutdown. To the machine that is a reset.
	.include "common.inc"

	.text
main:
	PRINT "TRIPLE-FAULT-NEXT\n"
	lidt empty_idt(%rip)
	int3
	PRINT "TRIPLE-FAULT-SURVIVED\n"
	call halt_forever

	.data
	.balign 16
empty_idt:
	.word 0
	.quad 0
