//go:build !windows

package service

// SetRecovery is a no-op where the unit or plist already says how to
// restart (Restart=always, KeepAlive).
func SetRecovery(string) error { return nil }
