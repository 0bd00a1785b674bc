package onebot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// FlexInt accepts a JSON number or a string of digits, as v11 clients and HTTP query strings send both.
type FlexInt int64

func (f *FlexInt) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if len(b) == 0 || string(b) == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return err
	}
	*f = FlexInt(n)
	return nil
}

// FlexBool accepts true/false as JSON booleans or strings.
type FlexBool bool

func (f *FlexBool) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseBool(string(bytes.Trim(b, `"`)))
	if err != nil {
		return err
	}
	*f = FlexBool(v)
	return nil
}

// TxnKey is a client's idempotency key for a send (v12 matrix.txn_id, v11 matrix_txn_id): a
// JSON string, or a number taken as its digits (some v11 clients number their requests).
type TxnKey string

func (k *TxnKey) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9') {
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*k = TxnKey(n.String())
		return nil
	}
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s != nil {
		*k = TxnKey(*s)
	}
	return nil
}

// MaxTxnKeyLen bounds an idempotency key, in characters (as the spec's maxLength counts).
const MaxTxnKeyLen = 255

// IdempotencyOf checks an idempotency key (named name in the params) and digests what the call
// posts, so that a key reused for another request is refused instead of answering the first
// one. It returns nil when there is no key.
func IdempotencyOf(name string, key TxnKey, what any) (*model.Idempotency, error) {
	if key == "" {
		return nil, nil
	}
	if utf8.RuneCountInString(string(key)) > MaxTxnKeyLen {
		return nil, model.Errorf(model.ErrBadParam, "%s must be at most %d characters", name, MaxTxnKeyLen)
	}
	digest, err := json.Marshal(what)
	if err != nil {
		return nil, model.Errorf(model.ErrBadParam, "%s: %v", name, err)
	}
	sum := sha256.Sum256(digest)
	return &model.Idempotency{Key: string(key), Hash: hex.EncodeToString(sum[:])}, nil
}

// SendIdempotency checks a send's idempotency key and digests what the send posts (its target
// and message, before media sources are fetched), so that a key reused for another message is
// refused instead of answering the first one. It returns nil when there is no key. Both faces
// digest the same send alike (the message in the v12 form of EncodeSegments).
func SendIdempotency(c *Call, key TxnKey, to model.Target, segs []model.Segment, opts model.SendOptions) (*model.Idempotency, error) {
	name := "matrix_txn_id"
	if c.Version == 12 {
		name = "matrix.txn_id"
	}
	return IdempotencyOf(name, key, struct {
		Room, User string
		Segs       []Segment // the {type, data} form: it names each segment's type
		MsgType    string
		Markdown   *bool
	}{string(to.RoomID), string(to.UserID), EncodeSegments(segs), opts.MsgType, opts.Markdown})
}

// ValidUserID tells whether s is a Matrix user ID.
func ValidUserID(s string) bool {
	_, _, err := id.UserID(s).Parse()
	return err == nil && strings.HasPrefix(s, "@")
}

// ValidRoomID tells whether s looks like a Matrix room ID.
func ValidRoomID(s string) bool {
	return strings.HasPrefix(s, "!") && strings.Contains(s, ":") || strings.HasPrefix(s, "!") && len(s) > 1
}

// Room reads a group_id that is a Matrix room ID.
func Room(s string) (id.RoomID, error) {
	if !ValidRoomID(s) {
		return "", model.Errorf(model.ErrBadParam, "group_id must be a Matrix room ID like !abc:example.org")
	}
	return id.RoomID(s), nil
}

// User reads a param (named name) that is a Matrix user ID.
func User(s, name string) (id.UserID, error) {
	if !ValidUserID(s) {
		return "", model.Errorf(model.ErrBadParam, "%s must be a Matrix user ID like @alice:example.org", name)
	}
	return id.UserID(s), nil
}

// Msg reads a message_id that is a Matrix event ID.
func Msg(s string) (id.EventID, error) {
	if !strings.HasPrefix(s, "$") || len(s) < 2 {
		return "", model.Errorf(model.ErrBadParam, "message_id must be a Matrix event ID like $abc")
	}
	return id.EventID(s), nil
}
