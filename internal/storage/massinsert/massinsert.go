// Package massinsert builds multi-row inserts with go.mau.fi/util's MassInsertBuilder, once per
// row count: its Build formats every row's placeholders with fmt.Sprintf on each call (about a
// microsecond per row of the message index, on the sync loop), although the query depends only
// on how many rows there are.
package massinsert

import (
	"context"
	"database/sql"
	"slices"
	"sync"

	"go.mau.fi/util/dbutil"
)

// Builder is a MassInsertBuilder without static parameters whose queries are kept per row count.
type Builder[Item dbutil.MassInsertable[Dyn], Dyn dbutil.Array] struct {
	b       *dbutil.MassInsertBuilder[Item, [0]any, Dyn]
	queries sync.Map // row count → query
}

// New returns the Builder of b.
func New[Item dbutil.MassInsertable[Dyn], Dyn dbutil.Array](b *dbutil.MassInsertBuilder[Item, [0]any, Dyn]) *Builder[Item, Dyn] {
	return &Builder[Item, Dyn]{b: b}
}

// Build returns the query inserting items and its parameters, as MassInsertBuilder.Build does.
func (c *Builder[Item, Dyn]) Build(items []Item) (string, []any) {
	if q, ok := c.queries.Load(len(items)); ok {
		params := make([]any, 0, len(items)*len(*new(Dyn)))
		for _, it := range items {
			v := it.GetMassInsertValues()
			for i := range len(v) {
				params = append(params, v[i])
			}
		}
		return q.(string), params
	}
	q, params := c.b.Build([0]any{}, items)
	c.queries.Store(len(items), q)
	return q, params
}

// Execer runs a statement (dbutil.Database, in a transaction from the context or not).
type Execer interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Exec inserts items with db, at most per of them in one statement.
func (c *Builder[Item, Dyn]) Exec(ctx context.Context, db Execer, items []Item, per int) error {
	for chunk := range slices.Chunk(items, per) {
		query, args := c.Build(chunk)
		if _, err := db.Exec(ctx, query, args...); err != nil {
			return err
		}
	}
	return nil
}
