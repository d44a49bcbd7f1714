// Package exit carries process exit codes through cobra's error returns, so
// that both binaries (sluice and sluice-exporter) map errors the same way.
package exit

import "errors"

// Error carries a specific process exit code.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// Code maps an error returned by a command to the process exit code: the
// code of an *Error in its chain, else 1; 0 for nil.
func Code(err error) int {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 1
}
