package e2ee

import "context"

// Status is what the admin page shows of a bot's encryption.
type Status struct {
	CrossSigned   bool   // the device is signed by the account's self-signing key
	BackupVersion string // the key backup in use; "" = none
	Held          int    // events waiting for their keys
}

// Status returns the machine's status; it reads the crypto store, not the homeserver.
func (m *Machine) Status(ctx context.Context) Status {
	var st Status
	if _, verified, err := m.mach.GetOwnVerificationStatus(ctx); err == nil {
		st.CrossSigned = verified
	}
	m.backupMu.Lock()
	st.BackupVersion = string(m.backupVersion)
	m.backupMu.Unlock()
	if n, err := m.HeldCount(ctx); err == nil {
		st.Held = n
	}
	return st
}
