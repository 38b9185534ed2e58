package library

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound: no VM (or disk, or share) with that id or name.
	ErrNotFound = errors.New("not found")
	// ErrNameTaken: another VM already has that name (names are compared without regard to case).
	ErrNameTaken = errors.New("a VM with that name already exists")
	// ErrInvalid is wrapped by every *ValidationError.
	ErrInvalid = errors.New("invalid value")
	// ErrConflict: the VM changed since the caller read it (UpdateVM with ExpectVersion).
	ErrConflict = errors.New("the VM was changed elsewhere; reload it and try again")
	// ErrRunning: the operation needs the VM stopped.
	ErrRunning = errors.New("the VM is running")
	// ErrDiskInUse: the image is already attached where a second attachment would be unsafe.
	ErrDiskInUse = errors.New("disk image already in use")
)

// ValidationError says which field of a request is wrong and why, in words a user can act on.
type ValidationError struct {
	Field   string
	Problem string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Problem }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// NewerSchemaError: the library was written by a newer Paddock, whose schema this one does not know. Opening it
// anyway could lose the newer Paddock's data, so Open refuses.
type NewerSchemaError struct {
	Path      string
	Found     int // the library's schema version
	Supported int // the newest schema this Paddock knows
}

func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("%s: this library was written by a newer Paddock (schema %d); this Paddock understands up to %d",
		e.Path, e.Found, e.Supported)
}
