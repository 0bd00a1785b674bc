package e2ee

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// PickleKeyFile returns where the generated pickle key of the database at dbPath is kept.
func PickleKeyFile(dbPath string) string { return dbPath + ".pickle-key" }

// LoadPickleKey returns the configured key (GATEWAY_PICKLE_KEY), or the one generated for the
// database at dbPath, generating it on first use into a 0600 file next to the database. Losing
// that file makes the crypto store unreadable, so back it up with the database.
func LoadPickleKey(configured, dbPath string) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil
	}
	path := PickleKeyFile(dbPath)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		key := strings.TrimSpace(string(data))
		if key == "" {
			return nil, fmt.Errorf("the pickle key file %s is empty: restore it from a backup, or set GATEWAY_PICKLE_KEY", path)
		}
		return []byte(key), nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("failed to read the pickle key file %s: %w", path, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("failed to generate a pickle key: %w", err)
	}
	key := base64.RawStdEncoding.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the pickle key's directory: %w", err)
	}
	// O_EXCL: of two processes starting at once, the second reads the first one's key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadPickleKey("", dbPath)
	} else if err != nil {
		return nil, fmt.Errorf("failed to create the pickle key file %s: %w", path, err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("failed to write the pickle key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("failed to write the pickle key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("failed to write the pickle key file %s: %w", path, err)
	}
	return []byte(key), nil
}
