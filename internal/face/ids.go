package face

import (
	"context"
	"errors"
)

// IDKind says which number space of a face an ID is in (OneBot v11: user_id, group_id,
// message_id).
type IDKind int

const (
	KindUser  IDKind = iota + 1 // user_id, self_id
	KindRoom                    // group_id
	KindEvent                   // message_id
)

// ErrUnknownNumber is what a Mapper returns (wrapped or not) for a number it never gave out.
var ErrUnknownNumber = errors.New("v11: unknown number")

// Mapper is the persistent two-way map between Matrix IDs and the numbers a face's clients know
// them by (the hub adapts the storage's).
type Mapper interface {
	V11ID(ctx context.Context, kind IDKind, matrixID string) (int64, error)
	MatrixID(ctx context.Context, kind IDKind, v11 int64) (string, error)
}
