package x86

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"flag"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

var updatePayloadFixtures = flag.Bool("update-payload-fixtures", false,
	"rewrite testdata/vmlinux* with the xz and bzip2 tools")

// testVmlinux builds a small ELF vmlinux with a PVH note, and a text segment dense in the bytes the x86 BCJ filter
// reacts to (E8/E9 opcodes, 00/FF displacement tops, runs of E8), so every branch of the filter runs.
func testVmlinux() []byte {
	text := make([]byte, 32<<10)
	x := uint32(2463534242) // xorshift32: deterministic and fixed forever, unlike math/rand's generators
	next := func() uint32 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		return x
	}
	alphabet := []byte{0xE8, 0xE9, 0x00, 0xFF, 0x00, 0xFF, 0x48, 0x89}
	for i := 0; i < len(text); {
		r := next()
		switch {
		case r%4 == 0 && i+5 <= len(text): // a near call, as compilers emit them
			text[i] = 0xE8
			binary.LittleEndian.PutUint32(text[i+1:], uint32(int32(r>>8)%4096-2048))
			i += 5
		case r%4 == 3:
			text[i] = byte(r >> 16)
			i++
		default:
			text[i] = alphabet[(r>>8)%8]
			i++
		}
	}
	notes := append(gnuNote(), xenNote(xenPhys32Entry, binary.LittleEndian.AppendUint64(nil, 0x100_0040))...)
	return makeELF(0x100_0000, []elfSeg{
		{typ: ptLoad, paddr: 0x100_0000, data: text, memsz: uint64(len(text)) + 4096, align: 0x20_0000},
		{typ: ptNote, paddr: 0x100_0000 + uint64(len(text)), data: notes, align: 4},
	})
}

// payloadAt is where synthetic bzImages carry their payload, from the start of the protected-mode code.
const payloadAt = 0x3C0

// payloadBzImage wraps a payload (compressed stream plus size trailer) in a synthetic bzImage.
func payloadBzImage(payload []byte) []byte {
	p := defaultBz()
	p.kernelLen = payloadAt + len(payload) + 0x100
	bz := makeBzImage(p)
	setup := (4 + 1) * 512 // setup_sects 0 means 4
	copy(bz[setup+payloadAt:], payload)
	binary.LittleEndian.PutUint32(bz[hdrPayloadOffset:], payloadAt)
	binary.LittleEndian.PutUint32(bz[hdrPayloadLength:], uint32(len(payload)))
	return bz
}

// withSize appends the size trailer Linux's build appends.
func withSize(stream []byte, n int) []byte {
	return binary.LittleEndian.AppendUint32(bytes.Clone(stream), uint32(n))
}

func encodeGzip(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes() // gzip's own ISIZE is the trailer
}

func encodeZstd(t testing.TB, data []byte) []byte {
	w, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderCRC(true))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return withSize(w.EncodeAll(data, nil), len(data))
}

func encodeLZMA(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	w, err := lzma.WriterConfig{EOSMarker: true}.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return withSize(b.Bytes(), len(data))
}

func encodeLZ4(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	w := lz4.NewWriter(&b)
	if err := w.Apply(lz4.LegacyOption(true), lz4.CompressionLevelOption(lz4.Level9)); err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return withSize(b.Bytes(), len(data))
}

func encodeXZ(t testing.TB, data []byte, check byte) []byte {
	var b bytes.Buffer
	w, err := xz.WriterConfig{CheckSum: check}.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return withSize(b.Bytes(), len(data))
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%v (regenerate with go test -run TestPayloadFixtures -update-payload-fixtures)", err)
	}
	return withSize(data, len(testVmlinux()))
}

// TestPayloadFixtures rewrites, on request, the payloads that need tools Go has no encoder for (bzip2), or that
// must come from the real xz so the BCJ decoder is checked against the reference encoder rather than its mirror.
func TestPayloadFixtures(t *testing.T) {
	if !*updatePayloadFixtures {
		t.Skip("run with -update-payload-fixtures to rewrite testdata")
	}
	in := filepath.Join(t.TempDir(), "vmlinux")
	if err := os.WriteFile(in, testVmlinux(), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, cmd := range map[string][]string{
		// The options Linux's scripts/xz_wrap.sh uses on x86.
		"vmlinux-bcj.xz": {"xz", "--format=xz", "--check=crc32", "--x86", "--lzma2=dict=1MiB", "-c", in},
		// Several blocks, a BCJ start offset, CRC64.
		"vmlinux-bcj-blocks.xz": {"xz", "--format=xz", "--check=crc64", "--x86=start=4096", "--lzma2=dict=64KiB",
			"--block-size=12000", "-c", in},
		"vmlinux.bz2": {"bzip2", "-9", "-c", in},
	} {
		out, err := exec.Command(cmd[0], cmd[1:]...).Output()
		if err != nil {
			t.Fatalf("%s: %v", strings.Join(cmd, " "), err)
		}
		if err := os.WriteFile(filepath.Join("testdata", name), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestExtractVmlinuxFormats(t *testing.T) {
	want := testVmlinux()
	for _, tc := range []struct {
		name, format string
		payload      func(testing.TB) []byte
	}{
		{"gzip", "gzip", func(t testing.TB) []byte { return encodeGzip(t, want) }},
		{"zstd", "zstd", func(t testing.TB) []byte { return encodeZstd(t, want) }},
		{"lzma", "lzma", func(t testing.TB) []byte { return encodeLZMA(t, want) }},
		{"lz4 legacy", "lz4", func(t testing.TB) []byte { return encodeLZ4(t, want) }},
		{"bzip2", "bzip2", func(t testing.TB) []byte { return fixture(t, "vmlinux.bz2") }},
		{"xz crc32", "xz", func(t testing.TB) []byte { return encodeXZ(t, want, xz.CRC32) }},
		{"xz crc64", "xz", func(t testing.TB) []byte { return encodeXZ(t, want, xz.CRC64) }},
		{"xz sha256", "xz", func(t testing.TB) []byte { return encodeXZ(t, want, xz.SHA256) }},
		{"xz no check", "xz", func(t testing.TB) []byte { return encodeXZ(t, want, xz.None) }},
		{"xz x86 bcj (xz tool)", "xz", func(t testing.TB) []byte { return fixture(t, "vmlinux-bcj.xz") }},
		{"xz x86 bcj, blocks, start offset (xz tool)", "xz", func(t testing.TB) []byte { return fixture(t, "vmlinux-bcj-blocks.xz") }},
		{"xz x86 bcj (Go)", "xz", func(t testing.TB) []byte { return withSize(buildXZ(want, xzOpts{bcj: true}), len(want)) }},
		{"xz x86 bcj, sizes in headers, 3 blocks (Go)", "xz", func(t testing.TB) []byte {
			return withSize(buildXZ(want, xzOpts{bcj: true, bcjStart: 0x1234, sizes: true, blockSize: 12 << 10}), len(want))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bz := payloadBzImage(tc.payload(t))
			p, err := FindPayload(bz)
			if err != nil {
				t.Fatal(err)
			}
			if p.Format != tc.format || p.Size != int64(len(want)) {
				t.Fatalf("FindPayload: format %q size %d, want %q %d", p.Format, p.Size, tc.format, len(want))
			}
			got, err := ExtractVmlinux(bz, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("extracted %d bytes that differ from the %d-byte original", len(got), len(want))
			}
			img, err := ParseELF(got)
			if err != nil || !img.HasPVH || img.PVHEntry != 0x100_0040 {
				t.Fatalf("ParseELF: %+v, %v", img, err)
			}
		})
	}
}

func TestExtractVmlinuxRejects(t *testing.T) {
	want := testVmlinux()
	good := encodeXZ(t, want, xz.CRC32)
	notELF := bytes.Repeat([]byte("not an ELF "), 100)
	lzo := withSize(append([]byte("\x89LZO\x00\r\n\x1a\n"), make([]byte, 64)...), 1000)

	tooBig := bytes.Clone(good)
	binary.LittleEndian.PutUint32(tooBig[len(tooBig)-4:], 1<<30)
	wrongSize := bytes.Clone(good)
	binary.LittleEndian.PutUint32(wrongSize[len(wrongSize)-4:], uint32(len(want)+1))
	shortSize := bytes.Clone(good)
	binary.LittleEndian.PutUint32(shortSize[len(shortSize)-4:], uint32(len(want)-1))
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40

	for _, tc := range []struct {
		name        string
		bz          []byte
		msg         string
		unsupported bool
	}{
		{"lzo", payloadBzImage(lzo), "lzo compression", true},
		{"unknown format", payloadBzImage(withSize([]byte("PK\x03\x04whatever"), 100)), "unknown compression", true},
		{"arm bcj filter", payloadBzImage(withSize(buildXZ(want, xzOpts{filterID: 0x07}), len(want))), "xz filter 0x7", true},
		{"trailer above the limit", payloadBzImage(tooBig), "above the 1048576-byte limit", false},
		{"trailer too large", payloadBzImage(wrongSize), "decompressed to", false},
		{"trailer too small", payloadBzImage(shortSize), "exceeds the size trailer", false},
		{"corrupt xz", payloadBzImage(flipped), "xz", false},
		{"truncated xz", payloadBzImage(withSize(good[:len(good)/2], len(want))), "xz", false},
		{"not an ELF inside", payloadBzImage(encodeGzip(t, notELF)), "not a bootable x86-64 ELF", false},
		{"not a bzImage", want, "not a Linux bzImage", false},
		{"no payload", makeBzImage(defaultBz()), "names no payload", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExtractVmlinux(tc.bz, 1<<20)
			if err == nil {
				t.Fatalf("accepted (%d bytes)", len(got))
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q does not mention %q", err, tc.msg)
			}
			if errors.Is(err, ErrUnsupportedPayload) != tc.unsupported {
				t.Fatalf("errors.Is(%q, ErrUnsupportedPayload) = %v", err, !tc.unsupported)
			}
		})
	}

	t.Run("payload outside the file", func(t *testing.T) {
		bz := payloadBzImage(good)
		binary.LittleEndian.PutUint32(bz[hdrPayloadLength:], uint32(len(bz)))
		if _, err := ExtractVmlinux(bz, 1<<20); err == nil || !strings.Contains(err.Error(), "outside") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestTruncatedPayloads cuts every format's payload at many points: each cut is an error, never a panic.
func TestTruncatedPayloads(t *testing.T) {
	want := testVmlinux()
	for name, stream := range map[string][]byte{
		"gzip":  encodeGzip(t, want),
		"zstd":  encodeZstd(t, want),
		"lzma":  encodeLZMA(t, want),
		"lz4":   encodeLZ4(t, want),
		"bzip2": fixture(t, "vmlinux.bz2"),
		"xz":    fixture(t, "vmlinux-bcj.xz"),
	} {
		body := stream[:len(stream)-4]
		if name == "gzip" {
			body = stream
		}
		for _, cut := range []int{1, 7, 13, len(body) / 3, len(body) / 2, len(body) - 9, len(body) - 1} {
			if cut < 1 || cut >= len(body) {
				continue
			}
			bz := payloadBzImage(withSize(body[:cut], len(want)))
			if _, err := ExtractVmlinux(bz, 1<<20); err == nil {
				t.Errorf("%s cut to %d of %d bytes: accepted", name, cut, len(body))
			}
		}
	}
}

// TestHugeDictionary: headers asking for a 4 GiB dictionary still decodes (the dictionary is clamped to
// the output size), rather than allocating 4 GiB.
func TestHugeDictionary(t *testing.T) {
	want := testVmlinux()
	p := encodeLZMA(t, want)
	binary.LittleEndian.PutUint32(p[1:], 0xFFFF_0000) // the low bytes stay 0: they are part of the magic
	for name, payload := range map[string][]byte{
		"lzma": p,
		"xz":   withSize(buildXZ(want, xzOpts{bcj: true, dictByte: 40}), len(want)),
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		got, err := ExtractVmlinux(payloadBzImage(payload), 1<<20)
		runtime.ReadMemStats(&after)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: got %d bytes, %v", name, len(got), err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
			t.Fatalf("%s: decoding allocated %d MiB", name, n>>20)
		}
	}
}

func TestBCJRoundTrip(t *testing.T) {
	data := testVmlinux()
	// The decoder acts on this text, so the xz-tool fixtures decoding to it prove the reference encoder's
	// conversions and bcjX86Decode agree.
	dec := bytes.Clone(data)
	if bcjX86Decode(dec, 0); bytes.Equal(dec, data) {
		t.Fatal("the test text gives the BCJ filter nothing to convert")
	}
	for _, start := range []uint32{0, 1, 0x1000, 0xFFFF_FFF0} {
		enc := bcjX86EncodeForTest(data, start)
		if bytes.Equal(enc, data) {
			t.Fatal("encoding changed nothing")
		}
		bcjX86Decode(enc, start)
		if !bytes.Equal(enc, data) {
			t.Fatalf("start %#x: decode(encode(x)) != x", start)
		}
	}
	for n := range 6 {
		b := bytes.Repeat([]byte{0xE8}, n)
		bcjX86Decode(b, 0) // short buffers are left alone
		if !bytes.Equal(b, bytes.Repeat([]byte{0xE8}, n)) {
			t.Fatalf("%d-byte buffer changed", n)
		}
	}
}

// bcjX86EncodeForTest is the filter's encoding direction (relative to absolute), kept in the tests only: it is
// the same decision procedure as bcjX86Decode with the addition reversed.
func bcjX86EncodeForTest(in []byte, start uint32) []byte {
	buf := bytes.Clone(in)
	if len(buf) < 5 {
		return buf
	}
	var skipped uint32
	prev := -4
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
		src := binary.LittleEndian.Uint32(buf[i+1:])
		here := start + uint32(i) + 5
		var abs uint32
		for {
			abs = src + here
			if skipped == 0 {
				break
			}
			shift := 24 - 8*bcjPrevByte[skipped]
			if !bcjNear(byte(abs >> shift)) {
				break
			}
			src = abs ^ (1<<(shift+8) - 1)
		}
		abs &= 0x01FF_FFFF
		if abs&0x0100_0000 != 0 {
			abs |= 0xFF00_0000
		}
		binary.LittleEndian.PutUint32(buf[i+1:], abs)
		i += 4
	}
	return buf
}

// xzOpts shape the .xz files buildXZ writes.
type xzOpts struct {
	bcj       bool
	bcjStart  uint32
	sizes     bool // compressed and uncompressed sizes in block headers
	blockSize int  // 0: one block
	filterID  uint64
	dictByte  byte // LZMA2 dictionary size property; 0 means 16 (64 KiB)
}

func putVLI(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func pad4(b []byte, base int) []byte {
	for (len(b)-base)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// buildXZ writes a single-stream .xz file (CRC32 check) by hand, with filter chains the library's writer cannot
// produce.
func buildXZ(data []byte, o xzOpts) []byte {
	le := binary.LittleEndian
	flags := []byte{0, xzCheckCRC32}
	out := append([]byte(nil), xzHeaderMagic...)
	out = append(out, flags...)
	out = le.AppendUint32(out, crc32.ChecksumIEEE(flags))
	type rec struct{ unpadded, size uint64 }
	var recs []rec
	for len(data) > 0 {
		n := len(data)
		if o.blockSize > 0 {
			n = min(n, o.blockSize)
		}
		chunk := data[:n]
		data = data[n:]
		filtered := chunk
		if o.bcj {
			filtered = bcjX86EncodeForTest(chunk, o.bcjStart)
		}
		var comp bytes.Buffer
		w, err := lzma.Writer2Config{DictCap: 64 << 10}.NewWriter2(&comp)
		if err != nil {
			panic(err)
		}
		w.Write(filtered)
		w.Close()

		var fl []byte
		bflags := byte(0)
		if o.bcj || o.filterID != 0 {
			bflags |= 1
		}
		if o.sizes {
			bflags |= xzBlockFlagCompSize | xzBlockFlagSize
		}
		h := []byte{0, bflags}
		if o.sizes {
			h = putVLI(h, uint64(comp.Len()))
			h = putVLI(h, uint64(len(chunk)))
		}
		switch {
		case o.filterID != 0:
			fl = append(putVLI(nil, o.filterID), 0)
		case o.bcj && o.bcjStart != 0:
			fl = le.AppendUint32([]byte{xzFilterBCJX86, 4}, o.bcjStart)
		case o.bcj:
			fl = []byte{xzFilterBCJX86, 0}
		}
		h = append(h, fl...)
		dict := o.dictByte
		if dict == 0 {
			dict = 16 // 64 KiB, what the encoder used
		}
		h = append(h, xzFilterLZMA2, 1, dict)
		h = pad4(h, 0)
		h[0] = byte(len(h) / 4) // (len(h) + 4-byte CRC) / 4 - 1
		h = le.AppendUint32(h, crc32.ChecksumIEEE(h))

		blockStart := len(out)
		out = append(out, h...)
		out = append(out, comp.Bytes()...)
		out = pad4(out, blockStart)
		out = le.AppendUint32(out, crc32.ChecksumIEEE(chunk))
		recs = append(recs, rec{uint64(len(h) + comp.Len() + 4), uint64(len(chunk))})
	}
	indexStart := len(out)
	out = append(out, 0)
	out = putVLI(out, uint64(len(recs)))
	for _, r := range recs {
		out = putVLI(out, r.unpadded)
		out = putVLI(out, r.size)
	}
	out = pad4(out, indexStart)
	out = le.AppendUint32(out, crc32.ChecksumIEEE(out[indexStart:]))
	foot := le.AppendUint32(nil, uint32((len(out)-indexStart)/4-1))
	foot = append(foot, flags...)
	out = le.AppendUint32(out, crc32.ChecksumIEEE(foot))
	out = append(out, foot...)
	return append(out, xzFooterMagic...)
}

// FuzzExtractVmlinux feeds hostile payloads in every format: errors are fine, panics and oversize output are not.
func FuzzExtractVmlinux(f *testing.F) {
	want := makeELF(0x100_0000, []elfSeg{ // small, so that each run is quick
		{typ: ptLoad, paddr: 0x100_0000, data: testVmlinux()[512:2560], align: 0x20_0000},
		{typ: ptNote, data: xenNote(xenPhys32Entry, binary.LittleEndian.AppendUint64(nil, 0x100_0000)), align: 4},
	})
	if _, err := ParseELF(want); err != nil {
		f.Fatal(err)
	}
	f.Add(encodeGzip(f, want))
	f.Add(encodeZstd(f, want))
	f.Add(encodeLZMA(f, want))
	f.Add(encodeLZ4(f, want))
	f.Add(encodeXZ(f, want, xz.CRC32))
	f.Add(withSize(buildXZ(want, xzOpts{bcj: true, sizes: true, blockSize: 1000}), len(want)))
	f.Add(withSize([]byte("BZh91AY&SY"), 100))
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, payload []byte) {
		out, err := ExtractVmlinux(payloadBzImage(payload), limit)
		if err != nil {
			return
		}
		if len(out) > limit {
			t.Fatalf("%d bytes out, limit %d", len(out), limit)
		}
		if _, err := ParseELF(out); err != nil {
			t.Fatalf("returned a non-ELF: %v", err)
		}
	})
}

// FuzzBCJ checks the decoder inverts the encoder on arbitrary bytes and start offsets.
func FuzzBCJ(f *testing.F) {
	f.Add([]byte{0xE8, 0, 0, 0, 0, 0xE8, 0xE8, 0xFF, 0xFF, 0xE9, 0, 0xFF, 0, 0}, uint32(0))
	f.Add(testVmlinux()[:512], uint32(0x1000))
	f.Fuzz(func(t *testing.T, data []byte, start uint32) {
		enc := bcjX86EncodeForTest(data, start)
		bcjX86Decode(enc, start)
		if !bytes.Equal(enc, data) {
			t.Fatalf("decode(encode(% x)) = % x", data, enc)
		}
	})
}
