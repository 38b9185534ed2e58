package x86

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"slices"

	"github.com/ulikunitz/xz/lzma"
)

// The .xz container (the xz file format specification, 1.x), parsed here rather than by a library because the
// kernel's build compresses x86 kernels with the x86 BCJ filter ahead of LZMA2 (xz --x86 --lzma2), a chain the
// pure-Go xz readers refuse. The LZMA2 data itself is decoded by github.com/ulikunitz/xz/lzma; the BCJ filter is
// undone by bcjX86Decode.
//
// Layout: stream header (12 bytes), blocks, index, stream footer (12 bytes), then optional zero padding.

var (
	xzHeaderMagic = []byte("\xfd7zXZ\x00")
	xzFooterMagic = []byte("YZ")
	crc64Table    = crc64.MakeTable(crc64.ECMA)
)

const (
	xzStreamHeaderLen = 12
	xzStreamFooterLen = 12

	xzCheckNone   = 0x00
	xzCheckCRC32  = 0x01
	xzCheckCRC64  = 0x04
	xzCheckSHA256 = 0x0A

	xzFilterBCJX86 = 0x04
	xzFilterLZMA2  = 0x21

	xzBlockFlagFilters  = 0x03
	xzBlockFlagReserved = 0x3C
	xzBlockFlagCompSize = 0x40
	xzBlockFlagSize     = 0x80
)

func xzErr(format string, args ...any) error {
	return fmt.Errorf("xz: "+format, args...)
}

// xzCheck is a stream's integrity check: its size in the file and a fresh hash computing it (nil for none).
func xzCheck(id byte) (int, func() hash.Hash, error) {
	switch id {
	case xzCheckNone:
		return 0, nil, nil
	case xzCheckCRC32:
		return 4, func() hash.Hash { return crc32.NewIEEE() }, nil
	case xzCheckCRC64:
		return 8, func() hash.Hash { return crc64.New(crc64Table) }, nil
	case xzCheckSHA256:
		return 32, sha256.New, nil
	}
	return 0, nil, xzErr("unsupported check type %#x", id)
}

// checkBytes is the check field as stored: CRCs little-endian, SHA-256 as is.
func checkBytes(h hash.Hash, data []byte) []byte {
	h.Write(data)
	sum := h.Sum(nil) // Go's CRC hashes sum big-endian
	if h.Size() <= 8 {
		slices.Reverse(sum)
	}
	return sum
}

// xzCursor reads the container's fields from a byte slice, never past its end.
type xzCursor struct {
	b   []byte
	pos int
}

func (c *xzCursor) take(n int, what string) ([]byte, error) {
	if n < 0 || n > len(c.b)-c.pos {
		return nil, xzErr("truncated in the %s: %w", what, io.ErrUnexpectedEOF)
	}
	s := c.b[c.pos : c.pos+n]
	c.pos += n
	return s, nil
}

// vli reads a variable-length integer: 7 bits a byte, least significant first, at most 9 bytes, no redundant
// trailing zero byte.
func (c *xzCursor) vli(what string) (uint64, error) {
	var v uint64
	for i := 0; i < 9; i++ {
		if c.pos >= len(c.b) {
			return 0, xzErr("truncated in the %s: %w", what, io.ErrUnexpectedEOF)
		}
		b := c.b[c.pos]
		c.pos++
		v |= uint64(b&0x7F) << (7 * i)
		if b&0x80 == 0 {
			if b == 0 && i > 0 {
				return 0, xzErr("badly encoded integer in the %s", what)
			}
			return v, nil
		}
	}
	return 0, xzErr("integer too long in the %s", what)
}

// padding skips zero bytes up to the next multiple of four from base.
func (c *xzCursor) padding(base int, what string) error {
	n := (4 - (c.pos-base)%4) % 4
	pad, err := c.take(n, what)
	if err != nil {
		return err
	}
	for _, b := range pad {
		if b != 0 {
			return xzErr("non-zero %s", what)
		}
	}
	return nil
}

// xzBlock is what a block header says, and what decoding the block found.
type xzBlock struct {
	compSize, size int64 // -1 when the header leaves them out
	bcj            bool
	bcjStart       uint32
	dictSize       int64
	unpadded       uint64 // header + compressed data + check, for the index
	decoded        uint64
}

// decodeXZ decodes a single-stream .xz file into exactly size bytes of capacity.
func decodeXZ(src []byte, size, _ int64) ([]byte, error) {
	c := &xzCursor{b: src}
	hdr, err := c.take(xzStreamHeaderLen, "stream header")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(hdr[:6], xzHeaderMagic) {
		return nil, xzErr("no stream header magic")
	}
	flags := hdr[6:8]
	if crc32.ChecksumIEEE(flags) != binary.LittleEndian.Uint32(hdr[8:]) {
		return nil, xzErr("stream header CRC mismatch")
	}
	if flags[0] != 0 || flags[1]&0xF0 != 0 {
		return nil, xzErr("unsupported stream flags %#02x %#02x", flags[0], flags[1])
	}
	checkLen, newCheck, err := xzCheck(flags[1])
	if err != nil {
		return nil, err
	}

	out := make([]byte, 0, size)
	var blocks []xzBlock
	for {
		if c.pos >= len(src) {
			return nil, xzErr("truncated before the index: %w", io.ErrUnexpectedEOF)
		}
		if src[c.pos] == 0 {
			break // index indicator
		}
		blockStart := c.pos
		blk, err := readXZBlockHeader(c)
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", len(blocks), err)
		}
		headerLen := c.pos - blockStart
		dataStart, outStart := c.pos, len(out)
		if out, err = decodeLZMA2(c, blk, out); err != nil {
			return nil, fmt.Errorf("block %d: %w", len(blocks), err)
		}
		compSize := c.pos - dataStart
		block := out[outStart:]
		if blk.compSize >= 0 && int64(compSize) != blk.compSize {
			return nil, xzErr("block %d: %d compressed bytes, header says %d", len(blocks), compSize, blk.compSize)
		}
		if blk.size >= 0 && int64(len(block)) != blk.size {
			return nil, xzErr("block %d: %d bytes, header says %d", len(blocks), len(block), blk.size)
		}
		if blk.bcj {
			bcjX86Decode(block, blk.bcjStart)
		}
		if err := c.padding(blockStart, "block padding"); err != nil {
			return nil, err
		}
		sum, err := c.take(checkLen, "block check")
		if err != nil {
			return nil, err
		}
		if newCheck != nil && !bytes.Equal(sum, checkBytes(newCheck(), block)) {
			return nil, xzErr("block %d: check mismatch: the data is corrupt", len(blocks))
		}
		blk.unpadded = uint64(headerLen + compSize + checkLen)
		blk.decoded = uint64(len(block))
		blocks = append(blocks, blk)
	}

	indexStart := c.pos
	if err := readXZIndex(c, blocks); err != nil {
		return nil, err
	}
	indexLen := c.pos - indexStart

	foot, err := c.take(xzStreamFooterLen, "stream footer")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(foot[10:], xzFooterMagic) {
		return nil, xzErr("no stream footer magic")
	}
	if crc32.ChecksumIEEE(foot[4:10]) != binary.LittleEndian.Uint32(foot) {
		return nil, xzErr("stream footer CRC mismatch")
	}
	if backward := (uint64(binary.LittleEndian.Uint32(foot[4:])) + 1) * 4; backward != uint64(indexLen) {
		return nil, xzErr("stream footer gives an index of %d bytes, it has %d", backward, indexLen)
	}
	if !bytes.Equal(foot[8:10], flags) {
		return nil, xzErr("stream footer flags differ from the header's")
	}
	// Stream padding may follow, in whole 4-byte units of zeroes; a second stream is not part of a kernel payload.
	rest := src[c.pos:]
	if len(rest)%4 != 0 || bytes.ContainsFunc(rest, func(r rune) bool { return r != 0 }) {
		return nil, xzErr("%d bytes of unexpected data after the stream", len(rest))
	}
	return out, nil
}

// readXZBlockHeader parses a block header, allowing the filter chains Linux uses: LZMA2 alone, or x86 BCJ then LZMA2.
func readXZBlockHeader(c *xzCursor) (xzBlock, error) {
	blk := xzBlock{compSize: -1, size: -1}
	hlen := (int(c.b[c.pos]) + 1) * 4
	raw, err := c.take(hlen, "block header")
	if err != nil {
		return blk, err
	}
	if crc32.ChecksumIEEE(raw[:hlen-4]) != binary.LittleEndian.Uint32(raw[hlen-4:]) {
		return blk, xzErr("block header CRC mismatch")
	}
	h := &xzCursor{b: raw[:hlen-4], pos: 1}
	flags, _ := h.take(1, "block header")
	if flags[0]&xzBlockFlagReserved != 0 {
		return blk, xzErr("reserved block flags %#02x", flags[0])
	}
	if flags[0]&xzBlockFlagCompSize != 0 {
		v, err := h.vli("block header")
		if err != nil {
			return blk, err
		}
		if v == 0 || v > uint64(len(c.b)) {
			return blk, xzErr("block compressed size %d is impossible here", v)
		}
		blk.compSize = int64(v)
	}
	if flags[0]&xzBlockFlagSize != 0 {
		v, err := h.vli("block header")
		if err != nil {
			return blk, err
		}
		if v > 1<<62 {
			return blk, xzErr("block size %d is impossible", v)
		}
		blk.size = int64(v)
	}
	nfilters := int(flags[0]&xzBlockFlagFilters) + 1
	for i := range nfilters {
		id, err := h.vli("filter flags")
		if err != nil {
			return blk, err
		}
		plen, err := h.vli("filter flags")
		if err != nil {
			return blk, err
		}
		if plen > uint64(len(h.b)) {
			return blk, xzErr("filter properties of %d bytes", plen)
		}
		props, err := h.take(int(plen), "filter properties")
		if err != nil {
			return blk, err
		}
		last := i == nfilters-1
		switch {
		case id == xzFilterLZMA2 && last:
			if len(props) != 1 || props[0] > 40 {
				return blk, xzErr("bad LZMA2 properties % x", props)
			}
			blk.dictSize = lzma2DictSize(props[0])
		case id == xzFilterBCJX86 && !last && !blk.bcj:
			switch len(props) {
			case 0:
			case 4:
				blk.bcjStart = binary.LittleEndian.Uint32(props)
			default:
				return blk, xzErr("bad x86 BCJ properties % x", props)
			}
			blk.bcj = true
		default:
			return blk, fmt.Errorf("%w: xz filter %#x at position %d of %d (Paddock decodes LZMA2, optionally after x86 BCJ)",
				ErrUnsupportedPayload, id, i+1, nfilters)
		}
	}
	for _, b := range h.b[h.pos:] {
		if b != 0 {
			return blk, xzErr("non-zero block header padding")
		}
	}
	return blk, nil
}

// lzma2DictSize decodes LZMA2's one-byte dictionary size: 2 or 3 times a power of two, 4 KiB up to 4 GiB - 1.
func lzma2DictSize(b byte) int64 {
	if b == 40 {
		return 1<<32 - 1
	}
	return int64(2|b&1) << (b/2 + 11)
}

// decodeLZMA2 decodes one block's LZMA2 data from the cursor, appending to out (never beyond its capacity), and
// leaves the cursor just past the data's end marker.
func decodeLZMA2(c *xzCursor, blk xzBlock, out []byte) ([]byte, error) {
	data := c.b[c.pos:]
	if blk.compSize >= 0 {
		data = data[:blk.compSize]
	}
	// A dictionary larger than the whole output decodes the same as one of the output's size; clamping it keeps a
	// hostile header from making the decoder allocate gigabytes.
	dict := min(blk.dictSize, max(int64(cap(out)), lzma.MinDictCap))
	r := bytes.NewReader(data)
	lr, err := lzma.Reader2Config{DictCap: int(dict)}.NewReader2(r)
	if err != nil {
		return out, xzErr("LZMA2: %v", err)
	}
	room := out[len(out):cap(out)]
	if blk.size >= 0 && blk.size < int64(len(room)) {
		room = room[:blk.size]
	}
	got, err := readBounded(lr, room[:0])
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return out, xzErr("LZMA2: %w", err)
	}
	c.pos += len(data) - r.Len()
	return out[:len(out)+len(got)], nil
}

// readXZIndex parses the index and checks it against the blocks decoded.
func readXZIndex(c *xzCursor, blocks []xzBlock) error {
	start := c.pos
	c.pos++ // indicator
	n, err := c.vli("index")
	if err != nil {
		return err
	}
	if n != uint64(len(blocks)) {
		return xzErr("index lists %d blocks, the stream has %d", n, len(blocks))
	}
	for i, b := range blocks {
		unpadded, err := c.vli("index")
		if err != nil {
			return err
		}
		size, err := c.vli("index")
		if err != nil {
			return err
		}
		if unpadded != b.unpadded || size != b.decoded {
			return xzErr("index record %d (%d, %d) does not match the block (%d, %d)", i, unpadded, size, b.unpadded, b.decoded)
		}
	}
	if err := c.padding(start, "index padding"); err != nil {
		return err
	}
	body := c.b[start:c.pos]
	sum, err := c.take(4, "index CRC")
	if err != nil {
		return err
	}
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(sum) {
		return xzErr("index CRC mismatch")
	}
	return nil
}
