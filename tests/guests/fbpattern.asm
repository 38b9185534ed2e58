# fbpattern: the linear framebuffer from screen_info. Prints "FB width height stride base" and "FBFMT ...", fills
# the screen with the test pattern (fb_fill_pattern in common.inc: a border, a top band, 8 vertical bars), prints
# "DRAWN" and idles until it is powered off from outside.
	.include "common.inc"

	.text
main:
	call fb_probe
	cmp $-1, %rax
	je 1f
	call fb_fill_pattern
	PRINT "DRAWN\n"
	call halt_forever
1:	ret
