package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"
)

// DendriteVersion is the pinned Dendrite release, installed from the Go module
// proxy into <repo>/.cache/dendrite-<version>/ by EnsureDendrite.
const DendriteVersion = "v0.13.8"

const dendriteModule = "github.com/matrix-org/dendrite"

// Files inside a Dendrite directory.
const (
	dendriteConfigFile = "dendrite.yaml"
	dendriteKeyFile    = "matrix_key.pem"
	dendriteLogFile    = "dendrite.log"
)

// DendriteOptions configures StartDendrite. The zero value is a fresh
// homeserver "localhost" on a free port of 127.0.0.1 in a new temporary
// directory, with SQLite databases and federation off.
type DendriteOptions struct {
	// Dir holds config, databases, media and logs. "" = a new temporary
	// directory, removed by Stop.
	Dir string
	// ServerName is the Matrix server name ("" = "localhost").
	ServerName string
}

// EnsureDendrite makes sure the dendrite and generate-config/generate-keys
// binaries of DendriteVersion are in <repo>/.cache/dendrite-<version>/ (go
// install with GOBIN, once; an exclusive lock lets test binaries running in
// parallel wait for one installer) and returns that directory.
func EnsureDendrite(ctx context.Context) (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(cache, "dendrite-"+DendriteVersion)
	unlock, err := lockFile(ctx, filepath.Join(cache, "dendrite.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	tools := []string{"dendrite", "generate-config", "generate-keys"}
	missing := false
	for _, tool := range tools {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			missing = true
		}
	}
	if !missing {
		return bin, nil
	}
	args := []string{"install"}
	for _, tool := range tools {
		args = append(args, dendriteModule+"/cmd/"+tool+"@"+DendriteVersion)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = cache // outside the gateway's module: @version installs ignore it anyway
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("failed to install dendrite %s (go %s): %w\n%s", DendriteVersion, args, err, outputTail(out, 20))
	}
	return bin, nil
}

func outputTail(b []byte, n int) string {
	lines := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			lines++
			if lines > n {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}

// StartDendrite installs Dendrite (once, see EnsureDendrite), writes a test
// config and starts the homeserver on 127.0.0.1 only, returning once
// /_matrix/client/versions answers 200. The result is a *Homeserver like
// StartSynapse's: RegisterUser works through Dendrite's implementation of
// /_synapse/admin/v1/register (shared-secret registration). ctx bounds the
// install and the startup: call Stop.
func StartDendrite(ctx context.Context, opts DendriteOptions) (*Homeserver, error) {
	bin, err := EnsureDendrite(ctx)
	if err != nil {
		return nil, err
	}
	dir, removeDir, err := workDir("dendrite", opts.Dir)
	if err != nil {
		return nil, err
	}
	var hs *Homeserver
	for attempt := 1; ; attempt++ {
		hs, err = launchDendrite(ctx, bin, dir, opts)
		if err == nil || attempt == 5 || !errors.Is(err, errAddressInUse) {
			break
		}
	}
	if err != nil {
		if removeDir {
			_ = os.RemoveAll(dir)
		}
		return nil, err
	}
	hs.removeDir = removeDir
	return hs, nil
}

// writeDendriteConfig writes dendrite.yaml from generate-config's defaults
// (SQLite files in dir) with what a test server needs: federation off, no
// rate limits, cheap bcrypt, shared-secret registration, in-memory NATS.
func writeDendriteConfig(ctx context.Context, bin, dir, serverName, secret string) error {
	keyPath := filepath.Join(dir, dendriteKeyFile)
	if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "generate-keys"), "-private-key", keyPath)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("failed to generate the dendrite signing key: %w\n%s", err, out)
		}
	}
	out, err := exec.CommandContext(ctx, filepath.Join(bin, "generate-config"), "-dir", dir, "-server", serverName).Output()
	if err != nil {
		return fmt.Errorf("failed to generate the dendrite config: %w", err)
	}
	var conf map[string]any
	if err := yaml.Unmarshal(out, &conf); err != nil {
		return fmt.Errorf("failed to parse generate-config's output: %w", err)
	}
	set := func(path []string, v any) error {
		m := conf
		for _, k := range path[:len(path)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				return fmt.Errorf("dendrite config has no map %q (path %v)", k, path)
			}
			m = next
		}
		m[path[len(path)-1]] = v
		return nil
	}
	for _, kv := range []struct {
		path []string
		v    any
	}{
		{[]string{"global", "private_key"}, keyPath},
		{[]string{"global", "disable_federation"}, true},
		{[]string{"global", "presence"}, map[string]any{"enable_inbound": true, "enable_outbound": true}},
		{[]string{"global", "jetstream", "in_memory"}, true},
		{[]string{"global", "trusted_third_party_id_servers"}, []any{}},
		{[]string{"client_api", "registration_disabled"}, true},
		{[]string{"client_api", "registration_shared_secret"}, secret},
		{[]string{"client_api", "rate_limiting", "enabled"}, false},
		{[]string{"federation_api", "key_perspectives"}, []any{}},
		{[]string{"sync_api", "search", "enabled"}, false},
		{[]string{"user_api", "bcrypt_cost"}, 4},
		// Dendrite logs to stderr too, which the harness keeps in dendrite.log.
		{[]string{"logging"}, []any{}},
	} {
		if err := set(kv.path, kv.v); err != nil {
			return err
		}
	}
	data, err := yaml.Marshal(conf)
	if err != nil {
		return fmt.Errorf("failed to encode the dendrite config: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, dendriteConfigFile), data)
}

func launchDendrite(ctx context.Context, bin, dir string, opts DendriteOptions) (*Homeserver, error) {
	serverName := opts.ServerName
	if serverName == "" {
		serverName = "localhost"
	}
	secret := randomHex(32)
	if err := writeDendriteConfig(ctx, bin, dir, serverName, secret); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, dendriteLogFile)
	logStart := fileSize(logPath)
	proc, err := StartProcess(ProcessOptions{
		Name: "dendrite",
		Path: filepath.Join(bin, "dendrite"),
		Args: []string{
			"-config", filepath.Join(dir, dendriteConfigFile),
			"-http-bind-address", fmt.Sprintf("127.0.0.1:%d", port),
			// No TLS certificate is given, so Dendrite serves no HTTPS listener.
		},
		Dir:     dir,
		LogPath: logPath,
	})
	if err != nil {
		return nil, err
	}
	hs := &Homeserver{
		kind:       "dendrite",
		url:        fmt.Sprintf("http://127.0.0.1:%d", port),
		serverName: serverName,
		dir:        dir,
		secret:     secret,
		proc:       proc,
		httpClient: &http.Client{Timeout: 30 * time.Second},
	}
	err = proc.WaitReady(ctx, hs.answersVersions)
	if err != nil {
		_ = proc.Stop()
		if logSince(logPath, logStart, "address already in use") {
			return nil, fmt.Errorf("failed to start dendrite on port %d: %w: %w", port, errAddressInUse, err)
		}
		return nil, fmt.Errorf("failed to start dendrite: %w\n%s", err, proc.LogTail(20))
	}
	return hs, nil
}
