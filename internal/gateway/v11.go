package gateway

import (
	"context"
	"errors"
	"fmt"

	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// OneBot v11 retcodes (the v11 face's).
const (
	v11OK                = ob11.RetOK
	v11Failed            = ob11.RetFailed
	v11UnsupportedAction = ob11.RetUnsupportedAction
)

// v11IDs is the hub's persistent ID map as the v11 face sees it (ob11.Mapper): v11's kinds,
// and its ErrNotFound for a number never given out.
type v11IDs struct{ m IDMapper }

func storageKind(k ob11.Kind) storage.IDKind {
	switch k {
	case ob11.KindRoom:
		return storage.KindRoom
	case ob11.KindEvent:
		return storage.KindEvent
	}
	return storage.KindUser
}

func (a v11IDs) V11ID(ctx context.Context, k ob11.Kind, matrixID string) (int64, error) {
	return a.m.V11ID(ctx, storageKind(k), matrixID)
}

func (a v11IDs) MatrixID(ctx context.Context, k ob11.Kind, n int64) (string, error) {
	s, err := a.m.MatrixID(ctx, storageKind(k), n)
	if errors.Is(err, storage.ErrNotFound) {
		err = fmt.Errorf("%w: %w", ob11.ErrNotFound, err)
	}
	return s, err
}

// v11Request and v11Response are the v11 face's action request and response.
type (
	v11Request  = ob11.Request
	v11Response = ob11.Response
)
