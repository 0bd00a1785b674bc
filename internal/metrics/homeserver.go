package metrics

import (
	"net/http"
	"strconv"
	"strings"
)

// Transport counts a bot's homeserver requests by method, endpoint template and status, and
// its 429s. Next is the transport that sends them.
type Transport struct {
	M    *Metrics
	Bot  func() string // the bot's label (its user ID once known)
	Next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.Next.RoundTrip(req)
	if t.M == nil {
		return resp, err
	}
	bot := t.Bot()
	status := "error"
	if err == nil {
		status = strconv.Itoa(resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests {
			t.M.hsRateLimited.WithLabelValues(bot).Inc()
		}
	}
	t.M.hsRequests.WithLabelValues(bot, method(req.Method), Endpoint(req.URL.Path), status).Inc()
	return resp, err
}

func method(m string) string {
	switch m {
	case "", http.MethodGet:
		return http.MethodGet
	case http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead, http.MethodPatch, http.MethodOptions:
		return m
	}
	return "other"
}

// words are the path segments an endpoint template keeps as they are: the Matrix
// Client-Server and media API's fixed words. Every other segment (room, user and event IDs,
// event types, transaction IDs, server names, media IDs, …) becomes a placeholder named after
// the word before it, so the set of templates is bounded whatever the path.
var words = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`_matrix client media federation key v1 v3 r0 unstable .well-known matrix
		rooms room send state join leave invite kick ban unban forget members joined_members messages redact
		sync login logout all refresh account whoami password deactivate 3pid profile displayname avatar_url
		user filter account_data keys upload query claim changes signatures device_signing room_keys version
		sendToDevice devices delete_devices download thumbnail config create createRoom joined_rooms directory
		list aliases receipt read_markers typing event context relations threads capabilities versions pushrules
		global presence status upgrade auth_metadata org.matrix.msc2965 org.matrix.msc3916 org.matrix.msc2697.v2
		dehydrated_device preview_url search notifications openid request_token register available voip turnServer
		timestamp_to_event hierarchy summary mutual_rooms report tags m.room.message m.room.encrypted m.reaction
		m.room.member m.room.power_levels m.room.name m.room.topic m.room.avatar m.room.encryption m.room.redaction
		m.read m.read.private m.fully_read m.direct m.room_key_request m.room_key m.forwarded_room_key
		m.secret.request m.secret.send m.room.canonical_alias m.room.join_rules m.room.history_visibility
		m.room.pinned_events m.room.tombstone m.room.server_acl m.room.create m.room.guest_access
		m.cross_signing.master m.cross_signing.self_signing m.cross_signing.user_signing
		m.megolm_backup.v1 m.secret_storage.default_key`) {
		words[w] = true
	}
}

// placeholders name the segment after a word.
var placeholders = map[string]string{
	"rooms": "{roomId}", "room": "{roomAlias}", "join": "{roomIdOrAlias}", "user": "{userId}", "profile": "{userId}",
	"status": "{userId}", "presence": "{userId}", "event": "{eventId}", "redact": "{eventId}", "context": "{eventId}", "relations": "{eventId}",
	"send": "{eventType}", "state": "{eventType}", "sendToDevice": "{eventType}", "account_data": "{type}",
	"download": "{serverName}", "thumbnail": "{serverName}", "config": "{id}", "devices": "{deviceId}",
	"filter": "{filterId}", "receipt": "{receiptType}", "typing": "{userId}", "tags": "{tag}", "version": "{version}",
	"keys": "{roomId}", "pushrules": "{scope}", "upload": "{keyId}",
}

// maxSegments bounds a template's depth.
const maxSegments = 12

// Endpoint returns the template of a homeserver request path: fixed words kept, every other
// segment a placeholder, e.g. /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}.
// The query is never part of it.
func Endpoint(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	long := len(segs) > maxSegments
	if long {
		segs = segs[:maxSegments]
	}
	out := make([]string, 0, len(segs)+1)
	for i, s := range segs {
		if words[s] {
			out = append(out, s)
			continue
		}
		p := "{param}"
		if i > 0 {
			if q := placeholders[out[i-1]]; q != "" {
				p = q
			} else if i > 1 {
				switch out[i-2] {
				case "send", "sendToDevice":
					p = "{txnId}"
				case "state":
					p = "{stateKey}"
				case "download", "thumbnail":
					p = "{mediaId}"
				}
			}
		}
		out = append(out, p)
	}
	if long {
		out = append(out, "...")
	}
	return "/" + strings.Join(out, "/")
}
