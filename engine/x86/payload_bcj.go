package x86

import "encoding/binary"

// The x86 BCJ (branch/call/jump) filter, as the xz format defines it. Before compression it rewrites the 32-bit
// relative operand of CALL (E8) and JMP (E9) instructions into an absolute target, so that calls to one function
// from many places become identical byte strings that LZMA2 compresses well. Decoding turns them back.
//
// The encoder only touches operands whose top byte is 00 or FF (near targets, forwards or backwards), and it
// tracks which of the three bytes before an opcode were themselves E8/E9 bytes it left alone, because such a
// byte may be the operand of an earlier instruction rather than an opcode. The decoder must make exactly the same
// decisions, on the decoded bytes, so the rules below are fixed by the format.

// bcjPrevOK says, for each 3-bit pattern of recently skipped E8/E9 bytes (as the format shifts it along), whether
// the current opcode may still be converted.
var bcjPrevOK = [8]bool{true, true, true, false, true, false, false, false}

// bcjPrevByte gives, for each pattern, which operand byte (counted back from the operand's end) must not look
// like a near top byte, and which byte of a converted value is re-examined.
var bcjPrevByte = [8]uint{0, 1, 2, 2, 3, 3, 3, 3}

// bcjNear says whether b is the top byte of a near displacement (sign extension of a small value).
func bcjNear(b byte) bool { return b == 0x00 || b == 0xFF }

// bcjX86Decode undoes the x86 BCJ filter over one whole xz block, in place. start is the filter's start offset
// (the address the block's first byte is taken to have).
func bcjX86Decode(buf []byte, start uint32) {
	if len(buf) < 5 {
		return
	}
	var skipped uint32 // bit pattern of unconverted E8/E9 bytes just before the current one
	prev := -4         // position of the previous E8/E9 byte examined; -4 is far enough back to mean "none"
	for i := 0; i < len(buf)-4; i++ {
		if buf[i]&0xFE != 0xE8 {
			continue
		}
		gap := i - prev
		prev = i
		if gap > 3 {
			skipped = 0
		} else {
			skipped = (skipped << (gap - 1)) & 7
			if skipped != 0 && (!bcjPrevOK[skipped] || bcjNear(buf[i+4-int(bcjPrevByte[skipped])])) {
				skipped = (skipped<<1 | 1) & 7
				continue
			}
		}
		if !bcjNear(buf[i+4]) {
			skipped = (skipped<<1 | 1) & 7
			continue
		}
		operand := binary.LittleEndian.Uint32(buf[i+1:])
		here := start + uint32(i) + 5 // the address the displacement is relative to
		var rel uint32
		for {
			rel = operand - here
			if skipped == 0 {
				break
			}
			shift := 24 - 8*bcjPrevByte[skipped]
			if !bcjNear(byte(rel >> shift)) {
				break
			}
			operand = rel ^ (1<<(shift+8) - 1)
		}
		// The top byte is rebuilt as the sign of bit 24, so it is 00 or FF again.
		rel &= 0x01FF_FFFF
		if rel&0x0100_0000 != 0 {
			rel |= 0xFF00_0000
		}
		binary.LittleEndian.PutUint32(buf[i+1:], rel)
		i += 4
	}
}
