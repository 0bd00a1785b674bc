package metrics

import "testing"

func TestEndpointTemplates(t *testing.T) {
	for path, want := range map[string]string{
		"/_matrix/client/v3/rooms/!abc:example.org/send/m.room.message/m123.4":   "/_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}",
		"/_matrix/client/v3/rooms/!abc:example.org/send/com.evil.type/x":         "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}",
		"/_matrix/client/v3/rooms/%21abc%3Aexample.org/state/m.room.member/@u:x": "/_matrix/client/v3/rooms/{roomId}/state/m.room.member/{stateKey}",
		"/_matrix/client/v3/sync":                                "/_matrix/client/v3/sync",
		"/_matrix/client/v3/profile/@secret-user:hs/displayname": "/_matrix/client/v3/profile/{userId}/displayname",
		"/_matrix/client/v1/media/download/hs.example/AbCdEf":    "/_matrix/client/v1/media/download/{serverName}/{mediaId}",
		"/_matrix/client/v3/join/#room:hs":                       "/_matrix/client/v3/join/{roomIdOrAlias}",
		"/_matrix/client/v3/sendToDevice/m.room.encrypted/txn1":  "/_matrix/client/v3/sendToDevice/m.room.encrypted/{txnId}",
		"/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o":                         "/{param}/{param}/{param}/{param}/{param}/{param}/{param}/{param}/{param}/{param}/{param}/{param}/...",
		"/":                                                      "/{param}",
	} {
		if got := Endpoint(path); got != want {
			t.Errorf("Endpoint(%q) = %q, want %q", path, got, want)
		}
	}
}

// FuzzEndpoint: whatever the path, the template holds only vocabulary words and placeholders
// (the label set is bounded) and no segment of the path that is not a word.
func FuzzEndpoint(f *testing.F) {
	f.Add("/_matrix/client/v3/rooms/!abc:example.org/send/m.room.message/m123.4")
	f.Add("//x//y/../%2F")
	f.Fuzz(func(t *testing.T, path string) {
		got := Endpoint(path)
		for _, seg := range splitSegs(got) {
			if !words[seg] && !isPlaceholder(seg) && seg != "..." {
				t.Fatalf("Endpoint(%q) = %q: segment %q is neither a word nor a placeholder", path, got, seg)
			}
		}
	})
}

func splitSegs(t string) []string {
	var out []string
	start := 1
	for i := 1; i <= len(t); i++ {
		if i == len(t) || t[i] == '/' {
			out = append(out, t[start:i])
			start = i + 1
		}
	}
	return out
}

func isPlaceholder(s string) bool {
	if s == "{param}" || s == "{txnId}" || s == "{stateKey}" || s == "{mediaId}" {
		return true
	}
	for _, p := range placeholders {
		if p == s {
			return true
		}
	}
	return false
}
