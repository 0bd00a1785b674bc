package satori

import (
	"context"
	"reflect"
)

// method is one row of the API's method table (resources): the Go types that the request body
// is decoded into and the answer encoded from, which the OpenAPI check compares with
// api/openapi.yaml field by field, and the handler.
type method struct {
	// params is the type of the JSON body; nil when the body is not JSON (upload.create) or the
	// method reads none.
	params reflect.Type
	// multipart tells that the body is multipart/form-data (upload.create).
	multipart bool
	// result is the type of the 200 answer (Empty: {}).
	result reflect.Type
	run    func(ctx context.Context, c *call) (any, error)
}

// Empty is the answer of a method that answers nothing: {}.
type Empty struct{}

// typed makes a row of a handler that takes its JSON body decoded into P (a body that is not
// such a JSON object is 400) and answers R.
func typed[P, R any](fn func(ctx context.Context, c *call, p P) (R, error)) method {
	return method{params: reflect.TypeFor[P](), result: reflect.TypeFor[R](), run: func(ctx context.Context, c *call) (any, error) {
		var p P
		if err := c.params(&p); err != nil {
			return nil, err
		}
		return answer(fn(ctx, c, p))
	}}
}

// noParams makes a row of a handler that reads no body and answers R.
func noParams[R any](fn func(ctx context.Context, c *call) (R, error)) method {
	return method{result: reflect.TypeFor[R](), run: func(ctx context.Context, c *call) (any, error) {
		return answer(fn(ctx, c))
	}}
}

// multipartRow makes a row of a handler that reads a multipart/form-data body itself
// (c.body, c.contentType) and answers R.
func multipartRow[R any](fn func(ctx context.Context, c *call) (R, error)) method {
	m := noParams(fn)
	m.multipart = true
	return m
}

// answer drops the result of a failed call.
func answer[R any](r R, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}
