package display

// PointerState is the host pointer over the guest screen: an absolute position in guest pixels, the buttons held,
// and wheel movement since the last event (positive is up, away from the user).
type PointerState struct {
	X, Y    int
	Buttons Buttons
	Wheel   int
}

// Buttons is a set of pointer buttons.
type Buttons uint8

// Pointer buttons.
const (
	ButtonLeft Buttons = 1 << iota
	ButtonRight
	ButtonMiddle
)

// Console is what a display window needs from a running VM: its screen and its input. The engine implements it
// in-process; a client of a VM's control socket implements it for a GUI in another process.
type Console interface {
	// Framebuffer is the guest's screen memory. It stays the same for the VM's life, reboots included.
	Framebuffer() *Framebuffer
	// DirtyPages sets bit i of bitmap for each framebuffer page the guest wrote since the previous call.
	DirtyPages(bitmap []uint64) error
	// Key sends one physical key going down or up.
	Key(k Key, down bool) error
	// Pointer moves the absolute pointer and sets its buttons and wheel.
	Pointer(p PointerState) error
}
