package massinsert

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"testing"

	"go.mau.fi/util/dbutil"
)

type row [3]any

func (r row) GetMassInsertValues() [3]any { return r }

const insert = `INSERT INTO t (a, b, c) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`

func rows(n, from int) []row {
	out := make([]row, n)
	for i := range out {
		out[i] = row{fmt.Sprint("a", from+i), int64(from + i), i%2 == 0}
	}
	return out
}

// Build answers what MassInsertBuilder.Build answers, the first time for a row count (built) and
// after (kept), with the parameters of the rows it is given each time.
func TestBuildIsMassInsertBuilders(t *testing.T) {
	b := dbutil.NewMassInsertBuilder[row, [0]any](insert, "($%d, $%d, $%d)")
	c := New(b)
	for try := range 2 {
		for _, n := range []int{1, 2, 7, 100} {
			items := rows(n, 1000*try+n)
			q, p := c.Build(items)
			wq, wp := b.Build([0]any{}, items)
			if q != wq || !reflect.DeepEqual(p, wp) {
				t.Fatalf("try %d, %d rows:\n%s %v\nwant\n%s %v", try, n, q, p, wq, wp)
			}
		}
	}
}

type execs struct{ got []string }

func (e *execs) Exec(_ context.Context, query string, args ...any) (sql.Result, error) {
	e.got = append(e.got, fmt.Sprint(len(args)))
	return nil, nil
}

// Exec runs one statement per chunk of at most per rows, in order.
func TestExecChunks(t *testing.T) {
	c := New(dbutil.NewMassInsertBuilder[row, [0]any](insert, "($%d, $%d, $%d)"))
	var e execs
	if err := c.Exec(context.Background(), &e, rows(7, 0), 3); err != nil {
		t.Fatal(err)
	}
	if want := []string{"9", "9", "3"}; !reflect.DeepEqual(e.got, want) {
		t.Fatalf("statements with %v parameters, want %v", e.got, want)
	}
}
