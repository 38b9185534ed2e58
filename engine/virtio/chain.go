package virtio

// CopyFrom copies the chain's device-readable bytes starting at off into dst and returns how many it copied.
func (c *Chain) CopyFrom(dst []byte, off uint64) int {
	return copyBuffers(c.Readable, off, func(b []byte) int { n := copy(dst, b); dst = dst[n:]; return n })
}

// CopyTo copies src into the chain's device-writable bytes starting at off and returns how many it copied.
func (c *Chain) CopyTo(src []byte, off uint64) int {
	return copyBuffers(c.Writable, off, func(b []byte) int { n := copy(b, src); src = src[n:]; return n })
}

// copyBuffers runs step over the buffers from byte off on until step copies less than it was given.
func copyBuffers(bufs [][]byte, off uint64, step func([]byte) int) int {
	total := 0
	for _, b := range bufs {
		if off >= uint64(len(b)) {
			off -= uint64(len(b))
			continue
		}
		b = b[off:]
		off = 0
		n := step(b)
		total += n
		if n < len(b) {
			break
		}
	}
	return total
}
