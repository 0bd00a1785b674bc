package e2ee

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/rs/zerolog"
)

// newZerolog routes mautrix's zerolog output into the bot's slog logger. Only info and above
// pass: mautrix's debug and trace lines are too chatty for a gateway log.
func newZerolog(log *slog.Logger) zerolog.Logger {
	return zerolog.New(slogWriter{log: log.With("component", "crypto")}).Level(zerolog.InfoLevel).With().Timestamp().Logger()
}

type slogWriter struct{ log *slog.Logger }

// Write takes one zerolog JSON line.
func (w slogWriter) Write(p []byte) (int, error) {
	var fields map[string]any
	if err := json.Unmarshal(p, &fields); err != nil {
		w.log.Info(string(p))
		return len(p), nil
	}
	level := slog.LevelInfo
	switch fields[zerolog.LevelFieldName] {
	case "warn":
		level = slog.LevelWarn
	case "error", "fatal", "panic":
		level = slog.LevelError
	case "debug", "trace":
		level = slog.LevelDebug
	}
	msg, _ := fields[zerolog.MessageFieldName].(string)
	attrs := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		switch k {
		case zerolog.LevelFieldName, zerolog.MessageFieldName, zerolog.TimestampFieldName:
			continue
		}
		attrs = append(attrs, k, v)
	}
	w.log.Log(context.Background(), level, msg, attrs...)
	return len(p), nil
}
