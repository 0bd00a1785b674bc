package e2ee

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// syncCrypto is the encryption part of a /sync response. Each to-device event stays raw, so
// that one malformed event is skipped instead of failing the whole response.
type syncCrypto struct {
	ToDevice struct {
		Events []json.RawMessage `json:"events"`
	} `json:"to_device"`
	DeviceLists    mautrix.DeviceLists `json:"device_lists"`
	DeviceOTKCount *mautrix.OTKCount   `json:"device_one_time_keys_count"`
	// FallbackKeys is nil when the server did not say (it then has no fallback key support).
	FallbackKeys *[]id.KeyAlgorithm `json:"device_unused_fallback_key_types"`
}

// parseSyncCrypto decodes the encryption part of a /sync body into what the OlmMachine takes.
func parseSyncCrypto(body []byte) (*mautrix.RespSync, *[]id.KeyAlgorithm, []error) {
	var sc syncCrypto
	if err := json.Unmarshal(body, &sc); err != nil {
		return nil, nil, []error{fmt.Errorf("failed to decode the encryption part of /sync: %w", err)}
	}
	var errs []error
	resp := &mautrix.RespSync{DeviceLists: sc.DeviceLists}
	if sc.DeviceOTKCount != nil {
		resp.DeviceOTKCount = *sc.DeviceOTKCount
	}
	for _, raw := range sc.ToDevice.Events {
		var evt event.Event
		if err := json.Unmarshal(raw, &evt); err != nil {
			errs = append(errs, fmt.Errorf("malformed to-device event: %w", err))
			continue
		}
		if evt.Type.Type == "" || evt.Sender == "" {
			errs = append(errs, fmt.Errorf("to-device event without type or sender"))
			continue
		}
		resp.ToDevice.Events = append(resp.ToDevice.Events, &evt)
	}
	return resp, sc.FallbackKeys, errs
}

// ProcessSync handles the encryption part of one /sync body: to-device messages (room keys,
// key requests, forwarded keys), device list changes (with room keys rotated when a device's
// trust changed, see sharing.go), one-time key top-up and the fallback key.
// Call it before the rooms of the same response are processed.
func (m *Machine) ProcessSync(ctx context.Context, body []byte, since string) {
	resp, fallback, errs := parseSyncCrypto(body)
	for _, err := range errs {
		m.log.Warn("skipping part of the encryption data of /sync", "error", err)
	}
	if resp == nil {
		return
	}
	m.stats.OTKCount.Store(int64(resp.DeviceOTKCount.SignedCurve25519))
	m.mach.ProcessSyncResponse(ctx, resp, since)
	m.sharing.rotateOnTrustChange(ctx, resp.DeviceLists.Changed)
	if fallback != nil && !slices.Contains(*fallback, id.KeyAlgorithmSignedCurve25519) {
		if err := m.device.ensureFallbackKey(ctx, true); err != nil {
			m.log.Warn("failed to publish a fallback key", "error", err)
		}
	}
	m.backup.upload(ctx)
}

// HandleState lets the machine see membership and history visibility changes (to rotate the
// room's outbound session when someone leaves).
func (m *Machine) HandleState(ctx context.Context, evt *event.Event) {
	switch evt.Type {
	case event.StateMember:
		m.mach.HandleMemberEvent(ctx, evt)
	case event.StateHistoryVisibility:
		m.mach.HandleHistoryVisibility(ctx, evt)
	}
}
