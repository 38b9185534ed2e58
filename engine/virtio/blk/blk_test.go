package blk_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"paddock/engine/virtio"
	"paddock/engine/virtio/blk"
	"paddock/engine/virtio/virtiotest"
)

const wait = 2 * time.Second

type disk struct {
	t    testing.TB
	m    *virtiotest.Machine
	d    *virtiotest.Driver
	q    *virtiotest.Queue
	dev  *blk.Device
	hdr  uint64
	data uint64
	st   uint64
}

func image(t testing.TB, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

func open(t testing.TB, path string, opts blk.Options, features uint64) *disk {
	t.Helper()
	dev, err := blk.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	m, err := virtiotest.NewMachine(8 << 20)
	if err != nil {
		t.Fatal(err)
	}
	fn, d, err := m.Attach(dev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fn.Close() })
	if err := d.Setup(features, 1); err != nil {
		t.Fatal(err)
	}
	k := &disk{t: t, m: m, d: d, q: d.Queues[0], dev: dev}
	k.hdr, _ = m.Alloc(16, 16)
	k.st, _ = m.Alloc(1, 1)
	k.data, _ = m.Alloc(2<<20, 4096)
	return k
}

const allFeatures = virtio.FeatureVersion1 | virtio.FeatureRingIndirectDesc | blk.FeatureFlush | blk.FeatureRO |
	blk.FeatureSegMax | blk.FeatureSizeMax

// request runs one request with data at k.data and returns the status byte and used length.
func (k *disk) request(typ uint32, sector uint64, n uint32) (byte, uint32) {
	k.t.Helper()
	binary.LittleEndian.PutUint32(k.m.RAM[k.hdr:], typ)
	binary.LittleEndian.PutUint32(k.m.RAM[k.hdr+4:], 0)
	binary.LittleEndian.PutUint64(k.m.RAM[k.hdr+8:], sector)
	k.m.RAM[k.st] = 0xEE
	bufs := []virtiotest.Buf{{Addr: k.hdr, Len: 16}}
	if n > 0 {
		bufs = append(bufs, virtiotest.Buf{Addr: k.data, Len: n, Write: typ != blk.TypeOut})
	}
	bufs = append(bufs, virtiotest.Buf{Addr: k.st, Len: 1, Write: true})
	used, err := k.q.Submit(bufs, wait)
	if err != nil {
		k.t.Fatal(err)
	}
	return k.m.RAM[k.st], used
}

func TestConfigAndFeatures(t *testing.T) {
	k := open(t, image(t, 3<<20), blk.Options{}, allFeatures)
	if c := k.d.DeviceConfigRead(0, 8); c != 3<<20/512 {
		t.Fatalf("capacity %d sectors", c)
	}
	if s := k.d.DeviceConfigRead(12, 4); s == 0 || s > blk.QueueSize {
		t.Fatalf("seg_max %d", s)
	}
	if k.d.Features&blk.FeatureRO != 0 {
		t.Fatal("read-write disk offers RO")
	}
	if k.d.Features&blk.FeatureFlush == 0 {
		t.Fatal("FLUSH not offered")
	}
}

func TestReadWriteFlush(t *testing.T) {
	path := image(t, 1<<20)
	k := open(t, path, blk.Options{}, allFeatures)
	pattern := bytes.Repeat([]byte("paddock!"), 1024) // 8 KiB
	copy(k.m.RAM[k.data:], pattern)
	if st, n := k.request(blk.TypeOut, 10, 8192); st != blk.StatusOK || n != 1 {
		t.Fatalf("write: status %d used %d", st, n)
	}
	if st, _ := k.request(blk.TypeFlush, 0, 0); st != blk.StatusOK {
		t.Fatalf("flush: status %d", st)
	}
	onDisk, _ := os.ReadFile(path)
	if !bytes.Equal(onDisk[10*512:10*512+8192], pattern) {
		t.Fatal("written data not in the image")
	}
	clear(k.m.RAM[k.data : k.data+8192])
	if st, n := k.request(blk.TypeIn, 10, 8192); st != blk.StatusOK || n != 8193 {
		t.Fatalf("read: status %d used %d", st, n)
	}
	if !bytes.Equal(k.m.RAM[k.data:k.data+8192], pattern) {
		t.Fatal("read back different data")
	}
	// The last sector is reachable, one past it is not.
	if st, _ := k.request(blk.TypeIn, 2047, 512); st != blk.StatusOK {
		t.Fatalf("last sector: status %d", st)
	}
	for _, tc := range []struct {
		typ    uint32
		sector uint64
		n      uint32
	}{
		{blk.TypeIn, 2048, 512},
		{blk.TypeIn, 2047, 1024},
		{blk.TypeOut, 2040, 8192},
		{blk.TypeIn, 1<<64 - 1, 512},
		{blk.TypeIn, 1 << 55, 512},
		{blk.TypeIn, 0, 100}, // not whole sectors
	} {
		if st, _ := k.request(tc.typ, tc.sector, tc.n); st != blk.StatusIOErr {
			t.Errorf("type %d sector %d len %d: status %d, want IOERR", tc.typ, tc.sector, tc.n, st)
		}
	}
	if st, _ := k.request(99, 0, 0); st != blk.StatusUnsupp {
		t.Fatalf("unknown type: status %d", st)
	}
}

func TestGetID(t *testing.T) {
	k := open(t, image(t, 1<<20), blk.Options{Serial: "PADDOCK-SERIAL-12345"}, allFeatures)
	clear(k.m.RAM[k.data : k.data+20])
	if st, n := k.request(blk.TypeGetID, 0, 20); st != blk.StatusOK || n != 21 {
		t.Fatalf("GET_ID: status %d used %d", st, n)
	}
	if got := string(k.m.RAM[k.data : k.data+20]); got != "PADDOCK-SERIAL-12345" {
		t.Fatalf("serial %q", got)
	}
	if _, err := blk.Open(image(t, 512), blk.Options{Serial: "this serial is far too long"}); err == nil {
		t.Fatal("a 27-byte serial was accepted")
	}
}

func TestReadOnly(t *testing.T) {
	path := image(t, 1<<20)
	os.WriteFile(path, bytes.Repeat([]byte{0x5A}, 1<<20), 0o600)
	k := open(t, path, blk.Options{ReadOnly: true}, allFeatures)
	if k.d.Features&blk.FeatureRO == 0 {
		t.Fatal("read-only disk does not offer RO")
	}
	clear(k.m.RAM[k.data : k.data+512])
	if st, _ := k.request(blk.TypeOut, 0, 512); st != blk.StatusIOErr {
		t.Fatalf("write to a read-only disk: status %d", st)
	}
	if st, _ := k.request(blk.TypeIn, 0, 512); st != blk.StatusOK || k.m.RAM[k.data] != 0x5A {
		t.Fatalf("read from a read-only disk: status %d byte %#x", st, k.m.RAM[k.data])
	}
	onDisk, _ := os.ReadFile(path)
	if onDisk[0] != 0x5A {
		t.Fatal("read-only image was modified")
	}
}

func TestImageLocking(t *testing.T) {
	path := image(t, 1<<20)
	dev, err := blk.Open(path, blk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if _, err := blk.Open(path, blk.Options{}); err == nil {
		t.Fatal("a disk in use was opened read-write a second time")
	}
}

func TestSparseImageOver4GiB(t *testing.T) {
	path := image(t, 6<<30)
	k := open(t, path, blk.Options{}, allFeatures)
	if c := k.d.DeviceConfigRead(0, 8); c != 6<<30/512 {
		t.Fatalf("capacity %d", c)
	}
	sector := uint64(5<<30) / 512
	copy(k.m.RAM[k.data:], "beyond four gigabytes")
	if st, _ := k.request(blk.TypeOut, sector, 4096); st != blk.StatusOK {
		t.Fatalf("write at 5 GiB: status %d", st)
	}
	clear(k.m.RAM[k.data : k.data+4096])
	if st, _ := k.request(blk.TypeIn, sector, 4096); st != blk.StatusOK {
		t.Fatalf("read at 5 GiB: status %d", st)
	}
	if got := string(k.m.RAM[k.data : k.data+21]); got != "beyond four gigabytes" {
		t.Fatalf("read %q", got)
	}
	f, _ := os.Open(path)
	defer f.Close()
	b := make([]byte, 21)
	f.ReadAt(b, 5<<30)
	if string(b) != "beyond four gigabytes" {
		t.Fatalf("image holds %q at 5 GiB", b)
	}
}

func TestSplitHeaderAndIndirectRequest(t *testing.T) {
	path := image(t, 1<<20)
	k := open(t, path, blk.Options{}, allFeatures)
	// Header in two pieces, data in three, via an indirect table.
	binary.LittleEndian.PutUint32(k.m.RAM[k.hdr:], blk.TypeOut)
	binary.LittleEndian.PutUint64(k.m.RAM[k.hdr+8:], 4)
	for i := range 1536 {
		k.m.RAM[k.data+uint64(i)] = byte(i % 251)
	}
	table, _ := k.m.Alloc(16*8, 16)
	bufs := []virtiotest.Buf{
		{Addr: k.hdr, Len: 5}, {Addr: k.hdr + 5, Len: 11},
		{Addr: k.data, Len: 100}, {Addr: k.data + 100, Len: 1000}, {Addr: k.data + 1100, Len: 436},
		{Addr: k.st, Len: 1, Write: true},
	}
	head, err := k.q.AddIndirect(bufs, table)
	if err != nil {
		t.Fatal(err)
	}
	k.q.Kick()
	used, err := k.q.Wait(1, wait)
	if err != nil || used[0].Head != head || k.m.RAM[k.st] != blk.StatusOK {
		t.Fatalf("indirect write: %v %v status %d", used, err, k.m.RAM[k.st])
	}
	onDisk, _ := os.ReadFile(path)
	if !bytes.Equal(onDisk[4*512:4*512+1536], k.m.RAM[k.data:k.data+1536]) {
		t.Fatal("indirect write landed wrong")
	}
}

func TestRequestWithoutStatusByteBreaksDevice(t *testing.T) {
	k := open(t, image(t, 1<<20), blk.Options{}, allFeatures)
	k.q.Add([]virtiotest.Buf{{Addr: k.hdr, Len: 16}})
	k.q.Kick()
	if !k.m.MSI.WaitCount(0, 1, wait) || k.d.Status()&virtio.StatusDeviceNeedsReset == 0 {
		t.Fatal("malformed request did not set DEVICE_NEEDS_RESET")
	}
}

// bench drives one request type through the device model and the Go driver, with one outstanding request.
func bench(b *testing.B, typ uint32, size uint32, random bool) {
	const diskSize = 256 << 20
	k := open(b, image(b, diskSize), blk.Options{}, allFeatures)
	if size > 2<<20 {
		b.Fatal("buffer too large")
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	sectors := uint64(diskSize / 512)
	step := uint64(size / 512)
	var sector uint64
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if random {
			sector = rnd.Uint64N(sectors/step) * step
		} else if sector += step; sector+step > sectors {
			sector = 0
		}
		if st, _ := k.request(typ, sector, size); st != blk.StatusOK {
			b.Fatalf("status %d", st)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "IOPS")
}

func BenchmarkRandRead4K(b *testing.B)  { bench(b, blk.TypeIn, 4096, true) }
func BenchmarkRandWrite4K(b *testing.B) { bench(b, blk.TypeOut, 4096, true) }
func BenchmarkSeqRead1M(b *testing.B)   { bench(b, blk.TypeIn, 1<<20, false) }
func BenchmarkSeqWrite1M(b *testing.B)  { bench(b, blk.TypeOut, 1<<20, false) }
