// Package assets holds the resources built into Paddock: its application icon, drawn once as SVG and rendered to
// PNG at the sizes desktops ask for.
package assets

import (
	_ "embed"
	"fmt"

	"fyne.io/fyne/v2"
)

// The PNGs are rendered from paddock.svg; after changing it, run `go generate ./assets`.
//go:generate go run ./internal/rendericons paddock.svg 256 128 64 48

var (
	//go:embed paddock.svg
	iconSVG string
	//go:embed paddock-256.png
	icon256 string
	//go:embed paddock-128.png
	icon128 string
	//go:embed paddock-64.png
	icon64 string
	//go:embed paddock-48.png
	icon48 string
)

// IconSizes lists the pixel sizes the icon comes in as PNG, largest first.
func IconSizes() []int { return []int{256, 128, 64, 48} }

// Icon is the application icon for windows and the desktop: the 256-pixel PNG, which every Fyne driver can show
// and scales down well.
func Icon() fyne.Resource {
	return fyne.NewStaticResource("paddock.png", []byte(icon256))
}

// IconSVG returns the icon as SVG, the scalable original.
func IconSVG() []byte { return []byte(iconSVG) }

// IconPNG returns the icon as a size x size PNG, for one of IconSizes.
func IconPNG(size int) ([]byte, error) {
	switch size {
	case 256:
		return []byte(icon256), nil
	case 128:
		return []byte(icon128), nil
	case 64:
		return []byte(icon64), nil
	case 48:
		return []byte(icon48), nil
	}
	return nil, fmt.Errorf("no %d-pixel icon (sizes: %v)", size, IconSizes())
}
