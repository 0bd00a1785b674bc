package model

import (
	"math"
	"testing"
)

// A bot is online while it syncs, and while it retries after a transient failure with a session
// that holds; not while the homeserver refused its session and it is being retried, nor offline.
func TestBotStatusOnline(t *testing.T) {
	for _, tc := range []struct {
		st           BotStatus
		online, good bool
	}{
		{BotStatus{State: StateStarting}, false, false},
		{BotStatus{State: StateSyncing}, true, true},
		{BotStatus{State: StateBackoff, Reason: "homeserver unreachable"}, true, false},
		{BotStatus{State: StateBackoff, Reason: "cannot obtain an access token now", SessionRetried: true}, false, false},
		{BotStatus{State: StateOffline}, false, false},
		{BotStatus{State: StateStopped}, false, false},
	} {
		if got := tc.st.Online(); got != tc.online {
			t.Errorf("%+v: online %t, want %t", tc.st, got, tc.online)
		}
		if got := tc.st.Good(); got != tc.good {
			t.Errorf("%+v: good %t, want %t", tc.st, got, tc.good)
		}
	}
}

func TestValidLatLon(t *testing.T) {
	for _, tc := range []struct {
		lat, lon float64
		ok       bool
	}{{0, 0, true}, {-90, 180, true}, {90.1, 0, false}, {0, -180.5, false}, {math.NaN(), 0, false}, {0, math.Inf(1), false}} {
		if got := ValidLatLon(tc.lat, tc.lon); got != tc.ok {
			t.Errorf("ValidLatLon(%v, %v) = %t", tc.lat, tc.lon, got)
		}
	}
}
