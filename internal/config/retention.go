package config

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// longDuration is a time.Duration that also accepts whole or fractional days ("7d", "1.5d"),
// the natural unit of a retention.
type longDuration time.Duration

var errNotDuration = errors.New("not a duration")

// UnmarshalText implements encoding.TextUnmarshaler for caarlos0/env.
func (d *longDuration) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	if n, ok := strings.CutSuffix(s, "d"); ok {
		f, err := strconv.ParseFloat(n, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return errNotDuration
		}
		if f < 0 || f*24 > float64(math.MaxInt64)/float64(time.Hour) {
			return errors.New("out of range")
		}
		*d = longDuration(math.Round(f * float64(24*time.Hour)))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return errNotDuration
	}
	*d = longDuration(v)
	return nil
}

// retention checks the retention variables of the message index and the file store.
func (l *loader) retention(g *Gateway, v *envVars) {
	g.MessageRetention = time.Duration(v.MessageRetention)
	l.positive("GATEWAY_MESSAGE_RETENTION", g.MessageRetention, "7d")
	g.MessageRetentionCount = v.MessageRetentionCount
	l.within("GATEWAY_MESSAGE_RETENTION_COUNT", g.MessageRetentionCount, 1, 100_000_000, "10000")
	g.EncryptedBodyRetention = time.Duration(v.EncryptedBodyRetention)
	switch {
	case l.bad["GATEWAY_ENCRYPTED_BODY_RETENTION"]:
	case g.EncryptedBodyRetention < 0:
		l.problems.add("GATEWAY_ENCRYPTED_BODY_RETENTION", "must not be negative; set a duration such as 24h, or 0 to store no decrypted body")
	case g.EncryptedBodyRetention > g.MessageRetention && g.MessageRetention > 0:
		l.problems.add("GATEWAY_ENCRYPTED_BODY_RETENTION", "%v is longer than GATEWAY_MESSAGE_RETENTION (%v), which deletes the whole message; "+
			"set at most %v", g.EncryptedBodyRetention, g.MessageRetention, g.MessageRetention)
	}
	g.FileRetention = time.Duration(v.FileRetention)
	l.positive("GATEWAY_FILE_RETENTION", g.FileRetention, "24h")
}
