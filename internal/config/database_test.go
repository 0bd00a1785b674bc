package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// GATEWAY_DATABASE is a SQLite file path or a postgres:// URL; any other URL, and a URL in a
// path variable, is a problem naming the variable (it used to become a folder named "postgres:").
func TestLoadDatabase(t *testing.T) {
	const pgURL = "postgres://gw:s3cret@db.example:5432/gateway?sslmode=disable"
	cfg := mustLoad(t, withBots("GATEWAY_DATABASE="+pgURL, "GATEWAY_PICKLE_KEY=0123456789abcdef0123456789abcdef"))
	if cfg.Gateway.Database != pgURL || !cfg.Gateway.DatabaseIsPostgres() {
		t.Errorf("Database = %q (postgres %v)", cfg.Gateway.Database, cfg.Gateway.DatabaseIsPostgres())
	}
	if cfg.Gateway.FilesDir != filepath.Join("data", "files") {
		t.Errorf("FilesDir = %q, want data/files", cfg.Gateway.FilesDir)
	}
	if s := cfg.Gateway.String(); strings.Contains(s, "s3cret") || !strings.Contains(s, "db.example") {
		t.Errorf("String() = %s; want the database without its password", s)
	}
	mustLoad(t, withBots("GATEWAY_DATABASE=postgresql://db.example/gateway", "GATEWAY_PICKLE_KEY=0123456789abcdef0123456789abcdef"))
	if cfg := mustLoad(t, withBots("GATEWAY_DATABASE=/var/lib/gw/gateway.db")); cfg.Gateway.DatabaseIsPostgres() ||
		cfg.Gateway.FilesDir != "/var/lib/gw/files" {
		t.Errorf("file database: postgres %v, files %q", cfg.Gateway.DatabaseIsPostgres(), cfg.Gateway.FilesDir)
	}

	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"GATEWAY_DATABASE=mysql://gw:s3cret@db/gateway"}, "GATEWAY_DATABASE: mysql://gw:xxxxx@db/gateway is a URL the gateway does not serve"},
		{[]string{"GATEWAY_DATABASE=sqlite:///var/lib/gw.db"}, "GATEWAY_DATABASE: sqlite:///var/lib/gw.db is a URL the gateway does not serve"},
		{[]string{"GATEWAY_DATABASE=postgres://db.example", "GATEWAY_PICKLE_KEY=0123456789abcdef0123456789abcdef"}, "GATEWAY_DATABASE: postgres://db.example lacks a host or a database name"},
		{[]string{"GATEWAY_DATABASE=" + pgURL}, "GATEWAY_PICKLE_KEY: required when GATEWAY_DATABASE is a PostgreSQL URL"},
		{[]string{"MATRIX_TOKEN_STORE_PATH=postgres://db/tokens"}, "MATRIX_TOKEN_STORE_PATH: postgres://db/tokens is a URL, not a path"},
		{[]string{"GATEWAY_FILES_DIR=s3://bucket/files"}, "GATEWAY_FILES_DIR: s3://bucket/files is a URL, not a path"},
	} {
		_, err := Load(withBots(tc.env...))
		wantProblems(t, err, 1, tc.want)
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%v: the problem shows the password: %v", tc.env, err)
		}
	}
}
