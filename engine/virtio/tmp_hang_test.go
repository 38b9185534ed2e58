package virtio_test

import (
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"testing"
	"time"
)

func TestTmpHang(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	end := time.Now().Add(30 * time.Second)
	for i := 0; time.Now().Before(end); i++ {
		ops := make([]byte, 12*r.IntN(40))
		for j := range ops {
			ops[j] = byte(r.Uint32())
			if j%12 == 0 {
				ops[j] = byte(r.IntN(4))
			}
			if j%12 == 1 {
				ops[j] = byte(r.Uint32())
			}
		}
		ram := make([]byte, r.IntN(64))
		for j := range ram {
			ram[j] = byte(r.Uint32())
		}
		done := make(chan struct{})
		go func() {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
				os.Exit(3)
			}
		}()
		registerOps(t, ops, ram)
		close(done)
	}
}
