package e2ee

import (
	"context"
	"fmt"
	"net/http"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/goolm/account"
	"maunium.net/go/mautrix/crypto/signatures"
	"maunium.net/go/mautrix/id"
)

// ensureFallbackKey publishes a signed fallback key (mautrix does not). With rotate, a new key
// replaces the current one (the server said the current one was used); otherwise a key is only
// generated when the account has none, and re-uploaded while it is unpublished.
func (d *deviceKeys) ensureFallbackKey(ctx context.Context, rotate bool) error {
	olmAccount := d.mach.GetAccount()
	acc, ok := olmAccount.Internal.(*account.Account)
	if !ok {
		return fmt.Errorf("fallback keys need the goolm account (build with -tags goolm)")
	}
	switch {
	case rotate || acc.NumFallbackKeys == 0:
		if err := acc.GenFallbackKey(); err != nil {
			return fmt.Errorf("failed to generate a fallback key: %w", err)
		}
		// Save before uploading: a crash after the upload must not lose the private key.
		if err := d.store.PutAccount(ctx, olmAccount); err != nil {
			return fmt.Errorf("failed to save the account: %w", err)
		}
	case acc.CurrentFallbackKey.Published:
		return nil
	}
	keys := map[id.KeyID]mautrix.OneTimeKey{}
	for keyID, pub := range acc.FallbackKey() {
		key := mautrix.OneTimeKey{Key: pub, Fallback: true, IsSigned: true}
		sig, err := olmAccount.SignJSON(&key)
		if err != nil {
			return fmt.Errorf("failed to sign the fallback key: %w", err)
		}
		key.Signatures = signatures.NewSingleSignature(d.cli.UserID, id.KeyAlgorithmEd25519, d.cli.DeviceID.String(), sig)
		keys[id.NewKeyID(id.KeyAlgorithmSignedCurve25519, keyID)] = key
	}
	req := map[string]any{"fallback_keys": keys}
	_, err := d.cli.MakeRequest(ctx, http.MethodPost, d.cli.BuildClientURL("v3", "keys", "upload"), req, nil)
	if err != nil {
		return fmt.Errorf("failed to upload the fallback key: %w", err)
	}
	acc.CurrentFallbackKey.Published = true
	acc.ForgetOldFallbackKey()
	if err := d.store.PutAccount(ctx, olmAccount); err != nil {
		return fmt.Errorf("failed to save the account: %w", err)
	}
	d.log.Debug("published a fallback key", "rotated", rotate)
	return nil
}
