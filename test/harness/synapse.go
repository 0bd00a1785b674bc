package harness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// SynapseRequirements is the pinned requirements file of the Synapse venv,
// relative to the repository root.
const SynapseRequirements = "test/harness/requirements-synapse.txt"

// Files inside a homeserver directory.
const (
	synapseConfigFile    = "homeserver.yaml"
	synapseLogConfigFile = "log.config"
	synapseLogFile       = "homeserver.log"
	synapseSigningKey    = "signing.key"
	synapseDatabase      = "homeserver.db"
	synapseMediaDir      = "media_store"
)

// SynapseOptions configures StartSynapse. The zero value is a fresh homeserver
// "localhost" on a free port in a new temporary directory.
type SynapseOptions struct {
	// Dir holds config, database, media and logs. "" = a new temporary
	// directory, removed by Stop. A Dir that already holds a homeserver.yaml
	// (from an earlier run) is reused as it is, database and users included.
	Dir string
	// ServerName is the Matrix server name ("" = "localhost").
	ServerName string
	// Port is the client listener's port on 127.0.0.1 (0 = a free port; when
	// reusing a Dir, 0 keeps the port of the stored config).
	Port int
	// ExtraConfig is merged into homeserver.yaml: top-level keys replace the
	// defaults, except that a map merges into a default map key by key, so
	// {"rc_login": {"address": {...}}} keeps the other rc_login limits high.
	// Examples: refreshable_access_token_lifetime: "30s",
	// rc_message: {per_second: 1, burst_count: 1}.
	ExtraConfig map[string]any
	// LogLevel of Synapse's log file ("" = "INFO").
	LogLevel string
}

// Homeserver is a running Synapse (StartSynapse) or Dendrite (StartDendrite).
type Homeserver struct {
	kind       string
	url        string
	serverName string
	dir        string
	removeDir  bool
	secret     string
	proc       *Process
	httpClient *http.Client

	stopOnce sync.Once
}

// Kind is "synapse" or "dendrite".
func (hs *Homeserver) Kind() string { return hs.kind }

// URL returns the client-server API base URL, e.g. http://127.0.0.1:41234.
func (hs *Homeserver) URL() string { return hs.url }

// ServerName returns the Matrix server name (the part after the colon in IDs).
func (hs *Homeserver) ServerName() string { return hs.serverName }

// Dir returns the directory with homeserver.yaml, the database and the logs.
func (hs *Homeserver) Dir() string { return hs.dir }

// LogPath returns the path of Synapse's log (its own log and stdout/stderr).
func (hs *Homeserver) LogPath() string { return hs.proc.LogPath() }

// LogTail returns the last n lines of Synapse's log.
func (hs *Homeserver) LogTail(n int) string { return hs.proc.LogTail(n) }

// PID is the process id of the homeserver (for CPU and memory readings).
func (hs *Homeserver) PID() int { return hs.proc.PID() }

// Done is closed when the Synapse process has exited (after Stop, or a crash).
func (hs *Homeserver) Done() <-chan struct{} { return hs.proc.Done() }

// Stop terminates Synapse (SIGTERM, then SIGKILL after 10 s) and removes the
// directory if StartSynapse created it. It is idempotent.
func (hs *Homeserver) Stop() {
	hs.stopOnce.Do(func() {
		_ = hs.proc.Stop()
		if hs.removeDir {
			_ = os.RemoveAll(hs.dir)
		}
	})
}

// StartSynapse installs Synapse (once, see EnsureVenv), writes a test config
// and starts the homeserver, returning once /_matrix/client/versions answers
// 200. ctx bounds the install and the startup, not the server's lifetime:
// call Stop.
func StartSynapse(ctx context.Context, opts SynapseOptions) (*Homeserver, error) {
	python, err := EnsureVenv(ctx, "synapse", SynapseRequirements)
	if err != nil {
		return nil, fmt.Errorf("failed to install synapse: %w", err)
	}
	dir, removeDir, err := workDir("synapse", opts.Dir)
	if err != nil {
		return nil, err
	}
	hs, err := startSynapseIn(ctx, python, dir, opts)
	if err != nil {
		if removeDir {
			_ = os.RemoveAll(dir)
		}
		return nil, err
	}
	hs.removeDir = removeDir
	return hs, nil
}

func startSynapseIn(ctx context.Context, python, dir string, opts SynapseOptions) (*Homeserver, error) {
	const attempts = 5
	newPort := false
	for attempt := 1; ; attempt++ {
		cfg, err := prepareSynapseDir(dir, opts, newPort)
		if err != nil {
			return nil, err
		}
		hs, err := launchSynapse(ctx, python, dir, cfg)
		if err == nil {
			return hs, nil
		}
		// A free port taken by someone else between our probe and Synapse's
		// bind: try another one.
		if cfg.portChosen && attempt < attempts && errors.Is(err, errAddressInUse) {
			newPort = true
			continue
		}
		return nil, err
	}
}

var errAddressInUse = errors.New("address already in use")

// synapseConfig is what the harness needs to know of a homeserver.yaml.
type synapseConfig struct {
	serverName string
	port       int
	secret     string
	portChosen bool
}

// prepareSynapseDir writes (or, for a reused directory, updates) the config.
// newPort makes it pick a free port even if the stored config has one (for a
// retry after a bind race).
func prepareSynapseDir(dir string, opts SynapseOptions, newPort bool) (*synapseConfig, error) {
	cfgPath := filepath.Join(dir, synapseConfigFile)
	var conf map[string]any
	old, err := os.ReadFile(cfgPath)
	switch {
	case err == nil:
		if err := json.Unmarshal(old, &conf); err != nil {
			return nil, fmt.Errorf("failed to parse %s (the harness reuses only configs it wrote, which are JSON): %w", cfgPath, err)
		}
		if len(opts.ExtraConfig) > 0 {
			mergeConfig(conf, opts.ExtraConfig)
		}
	case errors.Is(err, os.ErrNotExist):
		if conf, err = defaultSynapseConfig(dir, opts); err != nil {
			return nil, err
		}
		mergeConfig(conf, opts.ExtraConfig)
		if err := writeSigningKey(filepath.Join(dir, synapseSigningKey)); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("failed to read %s: %w", cfgPath, err)
	}

	out := &synapseConfig{}
	out.serverName, _ = conf["server_name"].(string)
	out.secret, _ = conf["registration_shared_secret"].(string)
	if out.serverName == "" || out.secret == "" {
		return nil, fmt.Errorf("failed to use %s: it needs server_name and registration_shared_secret", cfgPath)
	}
	listener, err := clientListener(conf)
	if err != nil {
		return nil, fmt.Errorf("failed to use %s: %w", cfgPath, err)
	}
	port := opts.Port
	if port == 0 && old != nil && !newPort {
		if p, ok := listener["port"].(float64); ok {
			port = int(p)
		}
	}
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
		out.portChosen = true
	}
	listener["port"] = port
	out.port = port
	// The public base URL must follow the port (media and login flows use it).
	conf["public_baseurl"] = fmt.Sprintf("http://127.0.0.1:%d/", port)

	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("failed to encode synapse config: %w", err)
	}
	data = append(data, '\n')
	if !bytes.Equal(data, old) {
		if err := writeFileAtomic(cfgPath, data); err != nil {
			return nil, fmt.Errorf("failed to write synapse config: %w", err)
		}
	}
	return out, nil
}

// clientListener returns the first listener of the config, as a map.
func clientListener(conf map[string]any) (map[string]any, error) {
	listeners, _ := conf["listeners"].([]any)
	if len(listeners) == 0 {
		return nil, errors.New("no listeners")
	}
	l, ok := listeners[0].(map[string]any)
	if !ok {
		return nil, errors.New("first listener is not a map")
	}
	return l, nil
}

// defaultSynapseConfig is a test homeserver config. It is JSON, which is YAML.
func defaultSynapseConfig(dir string, opts SynapseOptions) (map[string]any, error) {
	serverName := opts.ServerName
	if serverName == "" {
		serverName = "localhost"
	}
	level := opts.LogLevel
	if level == "" {
		level = "INFO"
	}
	logConfig := map[string]any{
		"version": 1,
		"formatters": map[string]any{
			"precise": map[string]any{
				"format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s",
			},
		},
		"handlers": map[string]any{
			"file": map[string]any{
				"class":     "logging.FileHandler",
				"formatter": "precise",
				"filename":  filepath.Join(dir, synapseLogFile),
				"encoding":  "utf8",
			},
		},
		"loggers": map[string]any{
			// DEBUG here would log access tokens.
			"synapse.storage.SQL": map[string]any{"level": "WARNING"},
		},
		"root":                     map[string]any{"level": level, "handlers": []any{"file"}},
		"disable_existing_loggers": false,
	}
	logData, err := json.MarshalIndent(logConfig, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("failed to encode synapse log config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, synapseLogConfigFile), logData, 0o644); err != nil {
		return nil, fmt.Errorf("failed to write synapse log config: %w", err)
	}

	high := func() map[string]any { return map[string]any{"per_second": 10000, "burst_count": 100000} }
	return map[string]any{
		"server_name": serverName,
		"pid_file":    filepath.Join(dir, "homeserver.pid"),
		"listeners": []any{map[string]any{
			"port":           opts.Port,
			"bind_addresses": []any{"127.0.0.1"},
			"type":           "http",
			"tls":            false,
			"x_forwarded":    false,
			"resources":      []any{map[string]any{"names": []any{"client"}, "compress": false}},
		}},
		"database": map[string]any{
			"name": "sqlite3",
			"args": map[string]any{"database": filepath.Join(dir, synapseDatabase)},
		},
		"log_config":                  filepath.Join(dir, synapseLogConfigFile),
		"media_store_path":            filepath.Join(dir, synapseMediaDir),
		"signing_key_path":            filepath.Join(dir, synapseSigningKey),
		"registration_shared_secret":  randomHex(32),
		"macaroon_secret_key":         randomHex(32),
		"form_secret":                 randomHex(32),
		"report_stats":                false,
		"enable_metrics":              false,
		"trusted_key_servers":         []any{},
		"suppress_key_server_warning": true,
		"bcrypt_rounds":               4,
		"enable_registration":         false,
		"enable_media_repo":           true,
		"url_preview_enabled":         false,
		"presence":                    map[string]any{"enabled": true},

		"rc_message":                     high(),
		"rc_registration":                high(),
		"rc_registration_token_validity": high(),
		"rc_login": map[string]any{
			"address":         high(),
			"account":         high(),
			"failed_attempts": high(),
		},
		"rc_admin_redaction": high(),
		"rc_joins": map[string]any{
			"local":  high(),
			"remote": high(),
		},
		"rc_joins_per_room":     high(),
		"rc_3pid_validation":    high(),
		"rc_invites":            map[string]any{"per_room": high(), "per_user": high(), "per_issuer": high()},
		"rc_third_party_invite": high(),
		"rc_key_requests":       high(),
		"rc_media_create":       high(),
		"rc_presence":           map[string]any{"per_user": high()},
		"rc_delayed_event_mgmt": high(),
		"rc_room_creation":      high(),
		"rc_reports":            high(),
		"rc_user_directory":     high(),
		"rc_profile":            high(),
	}, nil
}

// mergeConfig merges src into dst: maps merge recursively, anything else
// replaces.
func mergeConfig(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := toStringMap(v); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeConfig(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

func toStringMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[string]int:
		out := make(map[string]any, len(m))
		for k, x := range m {
			out[k] = x
		}
		return out, true
	case map[string]float64:
		out := make(map[string]any, len(m))
		for k, x := range m {
			out[k] = x
		}
		return out, true
	case map[string]string:
		out := make(map[string]any, len(m))
		for k, x := range m {
			out[k] = x
		}
		return out, true
	}
	return nil, false
}

// writeSigningKey writes an ed25519 signing key in Synapse's format
// ("ed25519 <version> <unpadded base64 seed>"), the same file
// `--generate-keys` writes, without paying a Python start for it.
func writeSigningKey(path string) error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("failed to generate signing key: %w", err)
	}
	version := "a_" + randomHex(2)
	line := fmt.Sprintf("ed25519 %s %s\n", version, base64.RawStdEncoding.EncodeToString(priv.Seed()))
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		return fmt.Errorf("failed to write signing key: %w", err)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("failed to read random bytes: %v", err))
	}
	return hex.EncodeToString(b)
}

// freePort asks the kernel for a free TCP port on 127.0.0.1. Another process
// can take it before the child binds it: callers retry on "address in use".
var freePort = func() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("failed to find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launchSynapse starts the process and waits for the client API.
func launchSynapse(ctx context.Context, python, dir string, cfg *synapseConfig) (*Homeserver, error) {
	logPath := filepath.Join(dir, synapseLogFile)
	logStart := fileSize(logPath)
	proc, err := StartProcess(ProcessOptions{
		Name:    "synapse",
		Path:    python,
		Args:    []string{"-m", "synapse.app.homeserver", "-c", filepath.Join(dir, synapseConfigFile)},
		Dir:     dir,
		Env:     childEnv(dropPythonEnv, map[string]string{"PYTHONUNBUFFERED": "1"}),
		LogPath: logPath,
	})
	if err != nil {
		return nil, err
	}
	hs := &Homeserver{
		kind:       "synapse",
		url:        fmt.Sprintf("http://127.0.0.1:%d", cfg.port),
		serverName: cfg.serverName,
		dir:        dir,
		secret:     cfg.secret,
		proc:       proc,
		httpClient: &http.Client{Timeout: 30 * time.Second},
	}
	err = proc.WaitReady(ctx, hs.answersVersions)
	if err != nil {
		_ = proc.Stop()
		if logSince(logPath, logStart, "address already in use") {
			return nil, fmt.Errorf("failed to start synapse on port %d: %w: %w", cfg.port, errAddressInUse, err)
		}
		return nil, fmt.Errorf("failed to start synapse: %w", err)
	}
	return hs, nil
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// logSince reports whether the part of the file after offset contains substr
// (ignoring case).
func logSince(path string, offset int64, substr string) bool {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return false
	}
	return bytes.Contains(bytes.ToLower(b[offset:]), bytes.ToLower([]byte(substr)))
}

// answersVersions is the readiness probe of any homeserver: GET /_matrix/client/versions answers 200.
func (hs *Homeserver) answersVersions(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, hs.url+"/_matrix/client/versions", nil)
	if err != nil {
		return err
	}
	resp, err := hs.httpClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /_matrix/client/versions: HTTP %d", resp.StatusCode)
	}
	return nil
}
