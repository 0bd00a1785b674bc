package e2ee

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/rs/zerolog"
)

// newZerolog routes mautrix's zerolog output into the bot's slog logger, at the logger's level
// (GATEWAY_LOG_LEVEL): debug shows mautrix's key sharing, withheld and key request decisions.
// mautrix's trace lines (one per event and database row) never pass.
func newZerolog(log *slog.Logger) zerolog.Logger {
	return zerolog.New(slogWriter{log: log.With("component", "crypto")}).Level(zerologLevel(log)).With().Timestamp().Logger()
}

// zerologLevel is the lowest zerolog level that log lets through.
func zerologLevel(log *slog.Logger) zerolog.Level {
	ctx := context.Background()
	switch {
	case log.Enabled(ctx, slog.LevelDebug):
		return zerolog.DebugLevel
	case log.Enabled(ctx, slog.LevelInfo):
		return zerolog.InfoLevel
	case log.Enabled(ctx, slog.LevelWarn):
		return zerolog.WarnLevel
	default:
		return zerolog.ErrorLevel
	}
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
