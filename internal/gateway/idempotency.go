package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"unicode/utf8"

	"github.com/matrix-onebot/gateway/internal/model"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// txnKey is a client's idempotency key for a send (v12 matrix.txn_id, v11 matrix_txn_id): a
// JSON string, or a number taken as its digits (some v11 clients number their requests).
type txnKey string

func (k *txnKey) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9') {
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*k = txnKey(n.String())
		return nil
	}
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s != nil {
		*k = txnKey(*s)
	}
	return nil
}

// maxTxnKeyLen bounds an idempotency key, in characters (as the spec's maxLength counts).
const maxTxnKeyLen = 255

// idempotencyFor checks a send's idempotency key and digests what the send posts (its target
// and message, before media sources are fetched), so that a key reused for another message is
// refused instead of answering the first one. It returns nil when there is no key.
func idempotencyFor(c *call, key txnKey, to model.Target, segs []model.Segment, opts model.SendOptions) (*model.Idempotency, error) {
	name := "matrix_txn_id"
	if c.version == 12 {
		name = "matrix.txn_id"
	}
	return idempotencyOf(name, key, struct {
		Room, User string
		Segs       []ob12.Segment // the {type, data} form: it names each segment's type
		MsgType    string
		Markdown   *bool
	}{string(to.RoomID), string(to.UserID), ob12.EncodeSegments(segs), opts.MsgType, opts.Markdown})
}

// idempotencyOf checks the key named name and digests what the call posts.
func idempotencyOf(name string, key txnKey, what any) (*model.Idempotency, error) {
	if key == "" {
		return nil, nil
	}
	if utf8.RuneCountInString(string(key)) > maxTxnKeyLen {
		return nil, model.Errorf(model.ErrBadParam, "%s must be at most %d characters", name, maxTxnKeyLen)
	}
	digest, err := json.Marshal(what)
	if err != nil {
		return nil, model.Errorf(model.ErrBadParam, "%s: %v", name, err)
	}
	sum := sha256.Sum256(digest)
	return &model.Idempotency{Key: string(key), Hash: hex.EncodeToString(sum[:])}, nil
}
