package linux_test

import (
	"os"
	"path/filepath"
	"testing"
)

func TestZZBuildMedia(t *testing.T) {
	if os.Getenv("ZZ") == "" {
		t.Skip()
	}
	skipReason = ""
	var err error
	guestDir, err = filepath.Abs(os.Getenv("HOME") + "/.cache/paddock/guests/6.1.0-56-amd64")
	if err != nil {
		t.Fatal(err)
	}
	live := guestISO(t, "linux-live", "sr0", nil, nil)
	inst, code := installerISO(t)
	t.Logf("LIVE=%s\nINST=%s", live, inst)
	if d := os.Getenv("ZZDISK"); d != "" {
		checkInstalledDisk(t, d, code)
	}
}
