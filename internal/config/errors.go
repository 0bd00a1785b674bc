package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with the configuration.
type Problem struct {
	// Key names what is wrong: an environment variable such as
	// "GATEWAY_LISTEN", or a path into MATRIX_BOTS such as
	// "MATRIX_BOTS[1].homeserver".
	Key string
	// Message says what is wrong and what to set instead. It never contains a
	// secret value.
	Message string
	// Err is the underlying cause, if any (for errors.Is / errors.As).
	Err error
}

// Error renders the problem as "KEY: message".
func (p Problem) Error() string { return p.Key + ": " + p.Message }

// Unwrap returns the underlying cause.
func (p Problem) Unwrap() error { return p.Err }

// Error is returned by Load when the configuration is unusable. It lists
// every problem found, not just the first one.
type Error struct {
	Problems []Problem
}

// Error renders all problems, one per line after a summary line.
func (e *Error) Error() string {
	switch len(e.Problems) {
	case 0:
		return "invalid configuration"
	case 1:
		return "invalid configuration: " + e.Problems[0].Error()
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "invalid configuration (%d problems):", len(e.Problems))
	for _, p := range e.Problems {
		sb.WriteString("\n  - ")
		sb.WriteString(p.Error())
	}
	return sb.String()
}

// Unwrap returns every problem, so errors.Is and errors.As see their causes.
func (e *Error) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// problems collects Problems while loading.
type problems []Problem

// add records a problem; the message is formatted with fmt.Sprintf.
func (ps *problems) add(key, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

// wrap records a problem caused by err. The message should already describe
// err in words that are safe to show (no secret values).
func (ps *problems) wrap(key string, err error, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Message: fmt.Sprintf(format, args...), Err: err})
}
