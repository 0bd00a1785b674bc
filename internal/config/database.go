package config

import (
	"net/url"
	"path/filepath"
	"strings"

	"github.com/matrix-onebot/gateway/internal/redact"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// DatabaseIsPostgres tells whether GATEWAY_DATABASE is a PostgreSQL URL (else a SQLite file).
func (g Gateway) DatabaseIsPostgres() bool { return storage.IsPostgresURL(g.Database) }

// database checks GATEWAY_DATABASE: a SQLite file path, or a postgres:// (postgresql://) URL
// with a host and a database name. Any other URL is refused: it would otherwise be taken for a
// file path and make a folder named after its scheme.
func (l *loader) database(g *Gateway, v *envVars) {
	g.Database = v.Database
	switch {
	case strings.TrimSpace(g.Database) == "":
		l.problems.add("GATEWAY_DATABASE", "is empty; set a SQLite file path such as ./data/gateway.db, or a postgres:// URL")
	case storage.IsPostgresURL(g.Database):
		u, err := url.Parse(g.Database)
		switch {
		case err != nil:
			l.problems.add("GATEWAY_DATABASE", "%s is not a valid URL; set postgres://user:password@host:5432/dbname?sslmode=disable", redact.URL(g.Database))
		case u.Host == "" || strings.Trim(u.Path, "/") == "":
			l.problems.add("GATEWAY_DATABASE", "%s lacks a host or a database name; set postgres://user:password@host:5432/dbname", redact.URL(g.Database))
		}
	case storage.IsURL(g.Database):
		l.problems.add("GATEWAY_DATABASE", "%s is a URL the gateway does not serve; set a SQLite file path such as ./data/gateway.db, or a postgres:// URL",
			redact.URL(g.Database))
	}
}

// postgresNeeds checks what a PostgreSQL GATEWAY_DATABASE needs that a file does not: a
// configured pickle key (the generated one is kept in a file next to a SQLite database; gateways
// sharing a PostgreSQL database must share the key that encrypts its crypto store).
func (l *loader) postgresNeeds(g *Gateway) {
	if !g.DatabaseIsPostgres() || g.PickleKey != "" || l.bad["GATEWAY_PICKLE_KEY_FILE"] {
		return
	}
	l.problems.add("GATEWAY_PICKLE_KEY", "required when GATEWAY_DATABASE is a PostgreSQL URL (the generated key is kept next to a "+
		"SQLite file, and gateways sharing a database must share the key); set a long random string, e.g. from openssl rand -hex 32, "+
		"or GATEWAY_PICKLE_KEY_FILE")
}

// MinPickleKey is the shortest pickle key taken (bytes, whitespace around it not counted).
const MinPickleKey = 16

// pickleKeyStrength refuses a configured pickle key that could be guessed (GATEWAY_PICKLE_KEY=k
// used to be taken), unless GATEWAY_PICKLE_KEY_ALLOW_SHORT keeps one that already encrypts a
// crypto store: changing it would make the store unreadable (the bots' keys are then restored
// from the key backup only where a recovery key is configured), so the choice is the operator's,
// made knowingly. The problem never echoes the key.
func (l *loader) pickleKeyStrength(g *Gateway, v *envVars) {
	name := "GATEWAY_PICKLE_KEY"
	if v.PickleKeyFile != "" && v.PickleKey == "" {
		name = "GATEWAY_PICKLE_KEY_FILE"
		if l.bad[name] {
			return
		}
	}
	raw := g.PickleKey // "" = not configured: a key is generated
	key := strings.TrimSpace(raw)
	switch {
	case key == "" && raw != "":
		l.problems.add(name, "the pickle key is only whitespace; set at least %d bytes, e.g. from openssl rand -hex 32", MinPickleKey)
	case len(key) >= MinPickleKey:
	case bool(v.PickleKeyAllowShort) && key != "":
		g.PickleKeyShort = true
	case key != "":
		l.problems.add(name, "the pickle key is %d bytes; set at least %d bytes, e.g. from openssl rand -hex 32 (a key that already "+
			"encrypts a crypto store cannot simply be changed: keep it for now with GATEWAY_PICKLE_KEY_ALLOW_SHORT=true, or change it "+
			"where every bot has recovery_key and login_user/login_password so that its room keys are restored from the key backup)",
			len(key), MinPickleKey)
	}
}

// notURL reports a path variable whose value is a URL: it would be taken for a relative path and
// make a folder named after the URL's scheme.
func (l *loader) notURL(key, value, example string) {
	if storage.IsURL(value) {
		l.problems.add(key, "%s is a URL, not a path; set a path such as %s", redact.URL(value), example)
	}
}

// defaultFilesDir is GATEWAY_FILES_DIR when unset: "files" next to a SQLite database, else
// ./data/files (the folder of the default database).
func defaultFilesDir(database string) string {
	if storage.IsURL(database) {
		return filepath.Join("data", "files")
	}
	return filepath.Join(filepath.Dir(database), "files")
}

// DatabaseForLog renders GATEWAY_DATABASE for logs and messages: a URL without its password and
// query.
func (g Gateway) DatabaseForLog() string { return safeDatabase(g.Database) }

func safeDatabase(database string) string {
	if storage.IsURL(database) {
		return redact.URL(database)
	}
	return database
}
