package matrix

import (
	"context"
	"fmt"
	"runtime/debug"
)

// runRecovered is Run with a panic (a bug: in the handling of an event, in the hub it hands
// events to) turned into an error, so that Serve retries this bot with backoff and shows why,
// instead of the process ending with every other bot.
func (s *syncer) runRecovered(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.acct.Log().Error("the sync loop panicked: this is a bug in the gateway, please report it with this log line",
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic in the sync loop (a bug; the log has the details): %v", r)
		}
	}()
	return s.Run(ctx)
}
