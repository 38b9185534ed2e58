package x86

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz/lzma"
)

// A bzImage carries the kernel proper, vmlinux (an ELF file, plus relocations on a relocatable kernel), compressed
// as its payload. The boot stub decompresses it inside the guest, which is slow where the guest's kernel code is
// emulated; ExtractVmlinux does the same work on the host so the ELF can be booted directly.

// Setup-header fields that locate the payload (boot protocol 2.08 and later).
const (
	hdrPayloadOffset = 0x248 // from the start of the protected-mode code
	hdrPayloadLength = 0x24C
)

// sizeTrailerLen is the uncompressed size Linux's build appends to the payload, little-endian (for gzip it is the
// format's own ISIZE field).
const sizeTrailerLen = 4

// minVmlinuxSize is the smallest output worth decompressing: an ELF header.
const minVmlinuxSize = elfHeaderSize

// ErrUnsupportedPayload says a bzImage's payload is in a compression format Paddock cannot decompress; the
// bzImage itself may still boot through its own decompressor.
var ErrUnsupportedPayload = errors.New("unsupported bzImage payload")

// Payload is the compressed vmlinux inside a bzImage.
type Payload struct {
	Format string // "gzip", "bzip2", "lzma", "xz", "lzo", "lz4" or "zstd"
	// Data is the compressed stream. The size trailer is left out, except for gzip, where it is part of the format.
	Data []byte
	// Size is the uncompressed size the trailer announces.
	Size int64
}

// payloadFormat is one compression format, recognised by the magic bytes it starts with.
type payloadFormat struct {
	name   string
	magic  string
	decode func(src []byte, size int64, maxSize int64) ([]byte, error) // nil: not supported
}

var payloadFormats = []payloadFormat{
	{"gzip", "\x1f\x8b", decodeGzip},
	{"xz", "\xfd7zXZ\x00", decodeXZ},
	{"zstd", "\x28\xb5\x2f\xfd", decodeZstd},
	{"lzma", "\x5d\x00\x00", decodeLZMA},
	{"bzip2", "BZh", decodeBzip2},
	{"lz4", "\x02\x21\x4c\x18", decodeLZ4Legacy},
	// No maintained pure-Go LZO decoder exists; such kernels keep their in-guest decompressor.
	{"lzo", "\x89LZO", nil},
}

// FindPayload locates and identifies the compressed vmlinux inside a bzImage, without decompressing it.
func FindPayload(bzImage []byte) (Payload, error) {
	var p Payload
	h, err := ParseBzImage(bzImage)
	if err != nil {
		return p, err
	}
	le := binary.LittleEndian
	off := uint64(le.Uint32(bzImage[hdrPayloadOffset:]))
	n := uint64(le.Uint32(bzImage[hdrPayloadLength:]))
	start := uint64(h.SetupSize()) + off
	if n == 0 {
		return p, fmt.Errorf("%w: the setup header names no payload", ErrUnsupportedPayload)
	}
	if start > uint64(len(bzImage)) || n > uint64(len(bzImage))-start {
		return p, notBz("payload at %#x, %d bytes, lies outside the %d-byte file", start, n, len(bzImage))
	}
	raw := bzImage[start : start+n]
	if len(raw) <= sizeTrailerLen {
		return p, notBz("payload of %d bytes is too short to hold a size trailer", len(raw))
	}
	for _, f := range payloadFormats {
		if !bytes.HasPrefix(raw, []byte(f.magic)) {
			continue
		}
		p.Format = f.name
		p.Size = int64(le.Uint32(raw[len(raw)-sizeTrailerLen:]))
		p.Data = raw[:len(raw)-sizeTrailerLen]
		if f.name == "gzip" {
			p.Data = raw
		}
		if len(p.Data) <= len(f.magic) {
			return p, notBz("%s payload of %d bytes is truncated", f.name, len(raw))
		}
		return p, nil
	}
	return p, fmt.Errorf("%w: unknown compression (payload starts % x)", ErrUnsupportedPayload, raw[:min(len(raw), 6)])
}

// ExtractVmlinux decompresses the vmlinux ELF inside a bzImage. It refuses, before allocating anything, a payload
// that announces more than maxSize bytes, checks that the output has exactly the announced size and is an ELF that
// ParseELF accepts, and reports corrupt or truncated input as an error. An unsupported format gives an error
// wrapping ErrUnsupportedPayload.
func ExtractVmlinux(bzImage []byte, maxSize int64) ([]byte, error) {
	p, err := FindPayload(bzImage)
	if err != nil {
		return nil, err
	}
	if p.Size < minVmlinuxSize {
		return nil, fmt.Errorf("%s payload: size trailer says %d bytes, too small for a vmlinux", p.Format, p.Size)
	}
	if p.Size > maxSize {
		return nil, fmt.Errorf("%s payload: size trailer says %d bytes, above the %d-byte limit", p.Format, p.Size, maxSize)
	}
	var decode func([]byte, int64, int64) ([]byte, error)
	for _, f := range payloadFormats {
		if f.name == p.Format {
			decode = f.decode
		}
	}
	if decode == nil {
		return nil, fmt.Errorf("%w: %s compression", ErrUnsupportedPayload, p.Format)
	}
	out, err := decode(p.Data, p.Size, maxSize)
	if err != nil {
		return nil, fmt.Errorf("decompressing the %s payload: %w", p.Format, err)
	}
	if int64(len(out)) != p.Size {
		return nil, fmt.Errorf("%s payload decompressed to %d bytes, but its size trailer says %d", p.Format, len(out), p.Size)
	}
	if _, err := ParseELF(out); err != nil {
		return nil, fmt.Errorf("%s payload: %w", p.Format, err)
	}
	return out, nil
}

// errTooLong says a decoder produced more than the size trailer announced.
var errTooLong = errors.New("output exceeds the size trailer")

// readBounded appends everything r yields to dst, refusing to grow it beyond its capacity.
func readBounded(r io.Reader, dst []byte) ([]byte, error) {
	for len(dst) < cap(dst) {
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
		if n == 0 {
			return dst, io.ErrNoProgress
		}
	}
	// Full: the stream must end here.
	var probe [1]byte
	for range 100 {
		n, err := r.Read(probe[:])
		if n > 0 {
			return dst, errTooLong
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
	return dst, io.ErrNoProgress
}

func decodeGzip(src []byte, size, _ int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	return readBounded(zr, make([]byte, 0, size))
}

func decodeBzip2(src []byte, size, _ int64) ([]byte, error) {
	return readBounded(bzip2.NewReader(bytes.NewReader(src)), make([]byte, 0, size))
}

// decodeLZMA reads the classic .lzma format: 13-byte header (properties, dictionary size, uncompressed size), then
// the range-coded stream, which the kernel's build ends with an end marker.
func decodeLZMA(src []byte, size, _ int64) ([]byte, error) {
	if len(src) < lzma.HeaderLen {
		return nil, io.ErrUnexpectedEOF
	}
	// A dictionary larger than the whole output decodes the same as one of the output's size; clamping it keeps a
	// hostile header from making the decoder allocate gigabytes.
	hdr := bytes.Clone(src[:lzma.HeaderLen])
	dict := int64(binary.LittleEndian.Uint32(hdr[1:]))
	if limit := max(size, lzma.MinDictCap); dict > limit {
		binary.LittleEndian.PutUint32(hdr[1:], uint32(limit))
	}
	r, err := lzma.NewReader(io.MultiReader(bytes.NewReader(hdr), bytes.NewReader(src[lzma.HeaderLen:])))
	if err != nil {
		return nil, err
	}
	return readBounded(r, make([]byte, 0, size))
}

func decodeZstd(src []byte, size, maxSize int64) ([]byte, error) {
	// Decoding into one buffer, the window is that buffer: its declared size costs no memory of its own.
	window := uint64(max(maxSize, zstd.MinWindowSize))
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(window),
		zstd.WithDecoderMaxWindow(min(window, zstd.MaxWindowSize)),
		zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	out, err := d.DecodeAll(src, make([]byte, 0, size))
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return nil, errTooLong
	}
	return out, err
}

// LZ4's legacy frame, as the kernel's build writes it: a 4-byte magic, then blocks, each a 4-byte little-endian
// compressed length and an LZ4 block that expands to 8 MiB (the last one to less). The magic may appear again
// where a block length would, starting another frame.
const (
	lz4LegacyMagic    = 0x184C2102
	lz4LegacyBlockMax = 8 << 20
)

func decodeLZ4Legacy(src []byte, size, _ int64) ([]byte, error) {
	le := binary.LittleEndian
	out := make([]byte, 0, size)
	src = src[4:]
	for len(src) > 0 {
		if len(src) < 4 {
			return nil, fmt.Errorf("lz4: %d stray bytes after the last block", len(src))
		}
		n := le.Uint32(src)
		src = src[4:]
		if n == lz4LegacyMagic {
			continue
		}
		if uint64(n) > uint64(len(src)) || int(n) > lz4.CompressBlockBound(lz4LegacyBlockMax) {
			return nil, fmt.Errorf("lz4: block of %d bytes with %d left in the stream: %w", n, len(src), io.ErrUnexpectedEOF)
		}
		room := min(cap(out)-len(out), lz4LegacyBlockMax)
		k, err := lz4.UncompressBlock(src[:n], out[len(out):len(out)+room])
		if err != nil {
			if room < lz4LegacyBlockMax {
				return nil, fmt.Errorf("lz4: %w (or %w)", err, errTooLong)
			}
			return nil, fmt.Errorf("lz4: %w", err)
		}
		out = out[:len(out)+k]
		src = src[n:]
	}
	return out, nil
}
