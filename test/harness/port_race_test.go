package harness

import (
	"context"
	"net"
	"strconv"
	"testing"
)

// busyPortOnce makes the next freePort call return a port that is taken,
// as when another process wins the race to bind it.
func busyPortOnce(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	busy := l.Addr().(*net.TCPAddr).Port
	real := freePort
	calls := 0
	freePort = func() (int, error) {
		calls++
		if calls == 1 {
			return busy, nil
		}
		return real()
	}
	t.Cleanup(func() { freePort = real })
	return busy
}

func TestSynapseRetriesOnPortRace(t *testing.T) {
	busy := busyPortOnce(t)
	hs := SynapseForTest(t, SynapseOptions{})
	if hs.URL() == "http://127.0.0.1:"+itoa(busy) {
		t.Fatalf("synapse claims the busy port %d", busy)
	}
	if _, err := hs.RegisterUser(context.Background(), "u", "p", false); err != nil {
		t.Fatal(err)
	}
}

func TestNoneBotRetriesOnPortRace(t *testing.T) {
	busy := busyPortOnce(t)
	nb := NoneBotForTest(t, NoneBotOptions{})
	if nb.Port() == busy {
		t.Fatalf("nonebot claims the busy port %d", busy)
	}
}

func itoa(n int) string {
	return strconv.Itoa(n)
}
