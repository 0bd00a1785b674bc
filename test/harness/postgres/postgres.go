package postgres

import (
	"github.com/matrix-onebot/gateway/test/harness"

	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq" // registers the "postgres" driver
)

// A throwaway PostgreSQL cluster for tests: initdb into a temporary directory, a server on a
// loopback port (and a unix socket in that directory only), trust authentication for the test
// user, fsync off. The Debian package's binaries are used (/usr/lib/postgresql/<n>/bin); .ci/run
// installs them when they are missing.

// User is the cluster's superuser; every test database belongs to it.
const User = "gateway"

// postgresRunAs is the account initdb and postgres run as when the tests run as root (both refuse
// root). It is created with useradd if the machine has no "nobody".
const postgresRunAs = "nobody"

// Cluster is a running throwaway cluster.
type Cluster struct {
	dir   string // removed by Stop
	port  int
	proc  *harness.Process
	admin *sql.DB
	next  atomic.Int64
}

// ErrNotInstalled is returned (wrapped) by Start when the PostgreSQL server binaries are not
// installed.
var ErrNotInstalled = errors.New("PostgreSQL binaries (initdb, postgres) not found; install them with apt-get install -y postgresql")

// postgresBin returns the directory of initdb and postgres: the newest /usr/lib/postgresql/<n>/bin,
// else the directory of an initdb on PATH.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	if len(dirs) > 0 {
		return filepath.Dir(dirs[0]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", ErrNotInstalled
}

func pgMajor(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// postgresCredential returns whom to run the server as: nil (the current user) unless the tests
// run as root, then postgresRunAs.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(postgresRunAs)
	if err != nil {
		out, uerr := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", postgresRunAs).CombinedOutput()
		if uerr != nil {
			return nil, fmt.Errorf("failed to create the user %s to run PostgreSQL as (initdb refuses root): %v: %s", postgresRunAs, uerr, out)
		}
		if u, err = user.Lookup(postgresRunAs); err != nil {
			return nil, fmt.Errorf("failed to look up %s: %w", postgresRunAs, err)
		}
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// Start creates and starts a cluster in a new temporary directory. It fails with
// ErrNotInstalled when the binaries are not installed.
func Start(ctx context.Context) (*Cluster, error) {
	bin, err := postgresBin()
	if err != nil {
		return nil, err
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	// Not under t.TempDir(): its parents are 0700 root, which the server's user cannot enter.
	dir, err := os.MkdirTemp("", "gateway-postgres-")
	if err != nil {
		return nil, fmt.Errorf("failed to create the PostgreSQL directory: %w", err)
	}
	pg := &Cluster{dir: dir}
	if err := pg.start(ctx, bin, cred); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return pg, nil
}

func (pg *Cluster) start(ctx context.Context, bin string, cred *syscall.Credential) error {
	asUser := func(a *syscall.SysProcAttr) { a.Credential = cred }
	if cred != nil {
		if err := os.Chown(pg.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("failed to hand the PostgreSQL directory to %s: %w", postgresRunAs, err)
		}
	}
	data, sock := filepath.Join(pg.dir, "data"), pg.dir
	env := harness.ChildEnv(dropPostgresEnv, map[string]string{"LC_ALL": "C", "HOME": pg.dir})
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", User,
		"--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Env = env
	initdb.SysProcAttr = &syscall.SysProcAttr{}
	asUser(initdb.SysProcAttr)
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb failed: %w\n%s", err, strings.TrimSpace(string(out)))
	}
	var lastErr error
	for range 3 { // another process may take the free port before the server binds it
		port, err := harness.FreePort()
		if err != nil {
			return err
		}
		pg.port = port
		if lastErr = pg.launch(ctx, bin, data, sock, env, asUser); lastErr == nil {
			return nil
		}
		if !strings.Contains(lastErr.Error(), "could not bind") && !strings.Contains(lastErr.Error(), "already in use") {
			return lastErr
		}
	}
	return lastErr
}

func (pg *Cluster) launch(ctx context.Context, bin, data, sock string, env []string, asUser func(*syscall.SysProcAttr)) error {
	proc, err := harness.StartProcess(harness.ProcessOptions{
		Name: "postgres", Path: filepath.Join(bin, "postgres"), Dir: pg.dir, Env: env,
		Args: []string{"-D", data, "-k", sock, "-h", "127.0.0.1", "-p", strconv.Itoa(pg.port),
			"-F", "-c", "max_connections=300", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"},
		LogPath:     filepath.Join(pg.dir, "postgres.log"),
		SysProcAttr: asUser,
	})
	if err != nil {
		return err
	}
	admin, err := sql.Open("postgres", pg.URL("postgres"))
	if err != nil {
		_ = proc.Stop()
		return err
	}
	err = proc.WaitReady(ctx, func(ctx context.Context) error { return admin.PingContext(ctx) })
	if err != nil {
		_ = admin.Close()
		_ = proc.Stop()
		return err
	}
	pg.proc, pg.admin = proc, admin
	return nil
}

// dropPostgresEnv drops the libpq variables (PGDATA, PGHOST, PGPORT…) of the caller's shell.
func dropPostgresEnv(key string) bool { return strings.HasPrefix(key, "PG") }

// URL returns the postgres:// URL of database db on the cluster (TCP on 127.0.0.1, no TLS).
func (pg *Cluster) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User(User), Host: "127.0.0.1:" + strconv.Itoa(pg.port),
		Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// NewDatabase creates an empty database with a new name and returns its URL.
func (pg *Cluster) NewDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("gateway_test_%d", pg.next.Add(1))
	if _, err := pg.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("failed to create database %s: %w", name, err)
	}
	return pg.URL(name), nil
}

// Admin returns a connection pool to the cluster's "postgres" database as the superuser (e.g. to
// end another connection with pg_terminate_backend).
func (pg *Cluster) Admin() *sql.DB { return pg.admin }

// LogPath returns the server's log file.
func (pg *Cluster) LogPath() string { return pg.proc.LogPath() }

// LogTail returns the last n lines of the server's log.
func (pg *Cluster) LogTail(n int) string { return pg.proc.LogTail(n) }

// Stop shuts the server down (fast: open connections are ended) and removes the cluster.
func (pg *Cluster) Stop() {
	_ = pg.admin.Close()
	_ = syscall.Kill(-pg.proc.PID(), syscall.SIGINT)
	select {
	case <-pg.proc.Done():
	case <-time.After(harness.StopGracePeriod):
	}
	_ = pg.proc.Stop()
	_ = os.RemoveAll(pg.dir)
}

// ForTest starts a cluster for one test and stops it in t.Cleanup. It skips the test,
// saying why, only when the PostgreSQL binaries are not installed; any other failure fails it.
func ForTest(t testing.TB) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), harness.StartTimeout)
	defer cancel()
	pg, err := Start(ctx)
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("failed to start PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of %s:\n%s", pg.LogPath(), pg.LogTail(harness.LogTailLines))
		}
		pg.Stop()
	})
	return pg
}

// DatabaseForTest returns the URL of a new empty database on pg, failing the test if it cannot be
// created.
func (pg *Cluster) DatabaseForTest(t testing.TB) string {
	t.Helper()
	u, err := pg.NewDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return u
}
