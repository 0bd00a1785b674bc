package storage

import (
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
)

// A URL of a kind the gateway does not serve is refused, and nothing is created for it: older
// builds took "postgres://…" for a file path and made a folder named "postgres:".
func TestOpenRefusesOtherURLs(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, loc := range []string{"mysql://u:secret@db/gw", "sqlite:///tmp/gw.db", "file://gw.db", "redis://localhost"} {
		db, err := Open(t.Context(), loc)
		if err == nil {
			_ = db.Close()
			t.Errorf("Open(%q) succeeded", loc)
			continue
		}
		if !errors.Is(err, ErrUnsupportedURL) || strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) = %v; want ErrUnsupportedURL without the password", loc, err)
		}
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Errorf("Open created %v for URLs", entries)
	}
}

func TestIsURL(t *testing.T) {
	for loc, want := range map[string][2]bool{ // IsURL, IsPostgresURL
		"postgres://h/db":           {true, true},
		"postgresql://u@h:5432/db":  {true, true},
		"POSTGRES://h/db":           {true, true},
		"mysql://h/db":              {true, false},
		"./data/gateway.db":         {false, false},
		"/var/lib/gateway/gw.db":    {false, false},
		"data/postgres:/gateway.db": {false, false},
		"gateway.db":                {false, false},
	} {
		if got := [2]bool{IsURL(loc), IsPostgresURL(loc)}; got != want {
			t.Errorf("%q: IsURL, IsPostgresURL = %v, want %v", loc, got, want)
		}
	}
}

// A PostgreSQL server that cannot be reached fails Open with an error that says so, without the
// password of the URL.
func TestOpenPostgresUnreachable(t *testing.T) {
	_, err := Open(t.Context(), "postgres://gateway:hunter2@127.0.0.1:1/gw?sslmode=disable")
	if err == nil || !strings.Contains(err.Error(), "PostgreSQL") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v; want a PostgreSQL connection error without the password", err)
	}
}

// A URL the driver cannot parse fails Open without its password either: the parser's error
// quotes the whole URL (parse "postgres://u:…@[::1:1/gw": missing ']' in host).
func TestOpenPostgresBadURLHidesPassword(t *testing.T) {
	for _, raw := range []string{
		"postgres://gateway:hunter2@[::1:1/gw",
		"postgres://gateway:hunter2@127.0.0.1:port/gw",
		"postgresql://gateway:hunter2@host/gw%zz",
	} {
		_, err := Open(t.Context(), raw)
		if err == nil || !strings.Contains(err.Error(), "PostgreSQL") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) = %v; want a PostgreSQL error without the password", raw, err)
		}
	}
}

// A failing query on PostgreSQL is a database error, and Problem names GATEWAY_DATABASE without
// the URL's password.
func TestPostgresProblem(t *testing.T) {
	if testPostgres == nil {
		t.Skip("PostgreSQL only: the SQLite problems are tested in internal/gateway")
	}
	u, err := url.Parse(newLocation(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "hunter2") // trust authentication ignores it
	db := openAt(t, u.String())
	if db.Path() != "" || !isPostgres(db) {
		t.Errorf("Path() = %q, isPostgres = %v", db.Path(), isPostgres(db))
	}
	_, err = db.DBUtil().Exec(t.Context(), "INSERT INTO gateway_kv (key, value) VALUES (NULL, 'v')")
	if err == nil {
		t.Fatal("insert of a NULL key succeeded")
	}
	p := db.Problem(err)
	if !IsDBError(err) || !strings.Contains(p, "GATEWAY_DATABASE") || strings.Contains(p, "hunter2") {
		t.Errorf("IsDBError = %v, Problem = %q", IsDBError(err), p)
	}
}
