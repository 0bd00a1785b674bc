package calls

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzReplyScope feeds checkReplyScope webhook replies (untrusted) and events: it never panics,
// and whatever it lets through is an allowed action whose group_id, user_id and message_id are
// the event's.
func FuzzReplyScope(f *testing.F) {
	event := `{"type":"message","detail_type":"group","group_id":"!room:example.org","user_id":"@alice:example.org","message_id":"$ev1:example.org","self":{"platform":"matrix","user_id":"@bot:example.org"}}`
	f.Add(event, `{"action":"send_message","params":{"detail_type":"group","group_id":"!room:example.org","message":"hi"}}`)
	f.Add(event, `{"action":"send_message","params":{"detail_type":"group","group_id":"!other:example.org"}}`)
	f.Add(event, `{"action":"matrix.kick","params":{"group_id":"!room:example.org","user_id":["@alice:example.org"]}}`)
	f.Add(event, `{"action":"matrix.raw_request","params":{}}`)
	f.Add(event, `{"action":"delete_message","params":null}`)
	f.Add(`{"type":"message","detail_type":"private","matrix.room_id":"!dm:example.org","user_id":"@alice:example.org"}`,
		`{"action":"matrix.react","params":{"group_id":"!dm:example.org","message_id":1}}`)
	f.Add(`[]`, `{"action":"get_status","params":"x"}`)
	f.Add(event, `{"action":"send_message","params":{"detail_type":"group","Group_ID":"!other:example.org","message":"hi"}}`)
	f.Add(event, `{"action":"delete_message","params":{"meſſage_id":"$other:example.org"}}`)
	f.Fuzz(func(t *testing.T, event, reply string) {
		reqs, err := decodeWebhookActions([]byte(reply))
		if err != nil {
			return
		}
		var ev replyEvent
		evErr := json.Unmarshal([]byte(event), &ev)
		for i := range reqs {
			if checkReplyScope([]byte(event), &reqs[i]) != nil {
				continue
			}
			if !replyScopeActions[reqs[i].Action] || evErr != nil {
				t.Fatalf("allowed %q on event %q", reqs[i].Action, event)
			}
			room := ev.GroupID
			if room == "" {
				room = ev.RoomID
			}
			var p map[string]json.RawMessage
			_ = json.Unmarshal(reqs[i].Params, &p)
			for target, want := range map[string]string{"group_id": room, "user_id": ev.UserID, "message_id": ev.MessageID} {
				for key, raw := range p { // encoding/json would read Group_ID as group_id
					if !strings.EqualFold(key, target) || string(raw) == "null" {
						continue
					}
					var got string
					if json.Unmarshal(raw, &got) != nil || got != want {
						t.Fatalf("allowed %s=%s on an event whose %s is %q", key, raw, target, want)
					}
				}
			}
		}
	})
}
