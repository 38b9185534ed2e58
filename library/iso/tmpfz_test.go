package iso
import ("testing";"os")
func FuzzTmp(f *testing.F) {
	f.Add(sectorsInput(synthISO()))
	f.Fuzz(func(t *testing.T, data []byte) {
		img := sectorsImage(data)
		switch os.Getenv("FZMODE") {
		case "inspect":
			InspectReaderAt(&countingReader{data: img, size: int64(len(img))}, int64(len(img)), "x")
		case "regexp":
			match(volumeIDRules, string(data[:min(len(data), 32)]))
		}
	})
}
