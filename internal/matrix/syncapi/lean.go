package syncapi

import (
	"encoding/json"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// leanTypes are the event types whose content unmarshalEvent keeps only as bytes (Content.VeryRaw,
// which Content.ParseRaw then parses): mautrix's Event.UnmarshalJSON also decodes every content
// into a generic map (Content.Raw) that nothing the gateway does with these events reads (it
// reads Parsed, and VeryRaw for the message index; mautrix's decryption reads the map only for
// Beeper's room reroute, which the gateway leaves off). Building that map took about a tenth of
// the CPU of a message's way from the /sync answer to the OneBot frame.
var leanTypes = map[string]bool{
	event.EventMessage.Type: true, event.EventSticker.Type: true, event.EventReaction.Type: true, event.EventEncrypted.Type: true,
}

// leanEvent is mautrix's event for unmarshalling (event.eventForMarshaling) with the content
// kept as bytes, and the type as a plain string (event.Type's UnmarshalJSON runs json.Unmarshal
// again for it).
type leanEvent struct {
	StateKey      *string         `json:"state_key,omitempty"`
	Sender        id.UserID       `json:"sender,omitempty"`
	Type          string          `json:"type"`
	Timestamp     int64           `json:"origin_server_ts,omitzero"`
	ID            id.EventID      `json:"event_id,omitempty"`
	RoomID        id.RoomID       `json:"room_id,omitempty"`
	Content       json.RawMessage `json:"content"`
	Redacts       id.EventID      `json:"redacts,omitempty"`
	Unsigned      *event.Unsigned `json:"unsigned,omitzero"`
	Sticky        *event.Sticky   `json:"msc4354_sticky,omitempty"`
	PrevContent   *event.Content  `json:"prev_content,omitempty"`
	ReplacesState *id.EventID     `json:"replaces_state,omitempty"`
	ToUserID      id.UserID       `json:"to_user_id,omitempty"`
	ToDeviceID    id.DeviceID     `json:"to_device_id,omitempty"`
}

// unmarshalEvent is Event.UnmarshalJSON, but for an event of one of leanTypes without
// Content.Raw, and with raw decoded once for any event (state events, account data and invite
// state are thousands in a first sync).
func unmarshalEvent(raw []byte, evt *event.Event) error {
	var le leanEvent
	if err := json.Unmarshal(raw, &le); err != nil {
		return err
	}
	lean := leanTypes[le.Type]
	if lean && len(le.Content) > 0 && le.Content[0] != '{' && string(le.Content) != "null" {
		return evt.UnmarshalJSON(raw) // content that is not an object: refused as mautrix refuses it
	}
	// As Event.UnmarshalJSON copies its fields; Content.UnmarshalJSON would clone the bytes
	// (a RawMessage is already a copy) and decode them into Content.Raw, as is done below for
	// the other events.
	evt.StateKey, evt.Sender, evt.Timestamp, evt.ID, evt.RoomID = le.StateKey, le.Sender, le.Timestamp, le.ID, le.RoomID
	evt.Type = event.Type{Type: le.Type}
	evt.Type.Class = evt.Type.GuessClass() // as Type.UnmarshalJSON
	evt.Content = event.Content{VeryRaw: le.Content}
	if !lean && le.Content != nil {
		if err := json.Unmarshal(le.Content, &evt.Content.Raw); err != nil {
			return err
		}
	}
	evt.Redacts, evt.Sticky = le.Redacts, le.Sticky
	if le.Unsigned != nil {
		evt.Unsigned = *le.Unsigned
	}
	if le.PrevContent != nil && evt.Unsigned.PrevContent == nil {
		evt.Unsigned.PrevContent = le.PrevContent
	}
	if le.ReplacesState != nil && *le.ReplacesState != "" && evt.Unsigned.ReplacesState == "" {
		evt.Unsigned.ReplacesState = *le.ReplacesState
	}
	evt.ToUserID, evt.ToDeviceID = le.ToUserID, le.ToDeviceID
	return nil
}
