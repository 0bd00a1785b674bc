package e2ee

import "testing"

// A key backup entry is trusted only when it says the device that backed it up got the key from
// the sender's device: forwarded_count 0 and no forwarding chain. is_verified does not count
// (Element always writes false).
func TestJudgeBackupEntry(t *testing.T) {
	for _, tc := range []struct {
		forwarded int
		chain     []string
		trusted   bool
	}{
		{0, nil, true},
		{0, []string{}, true},
		{1, nil, false},
		{0, []string{"curve"}, false},
		{2, []string{"a", "b"}, false},
	} {
		v := judgeBackupEntry(tc.forwarded, tc.chain)
		if v.Trusted != tc.trusted || (v.Reason == "") != v.Trusted {
			t.Errorf("forwarded_count %d, chain %v: trusted %v (%q), want %v", tc.forwarded, tc.chain, v.Trusted, v.Reason, tc.trusted)
		}
	}
}
