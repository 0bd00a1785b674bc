package config

import "testing"

func TestLoadPprof(t *testing.T) {
	if got := mustLoad(t, withBots()).Gateway.Pprof; got != "" {
		t.Fatalf("GATEWAY_PPROF default %q, want \"\" (off)", got)
	}
	for _, addr := range []string{"127.0.0.1:6060", "localhost:6060", "[::1]:6060", " 127.0.0.1:0 "} {
		if got := mustLoad(t, withBots("GATEWAY_PPROF="+addr)).Gateway.Pprof; got == "" {
			t.Errorf("GATEWAY_PPROF=%q: got off", addr)
		}
	}
	for addr, want := range map[string]string{
		"0.0.0.0:6060":     "not a loopback address",
		"example.org:6060": "not a loopback address",
		"6060":             "host:port",
		"127.0.0.1:99999":  "host:port",
	} {
		_, err := Load(withBots("GATEWAY_PPROF=" + addr))
		wantProblems(t, err, 1, "GATEWAY_PPROF", want)
	}
}
