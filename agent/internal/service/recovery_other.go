//go:build !windows

package service

// setRecovery is a no-op where the unit or plist already says how to
// restart (Restart=always, KeepAlive).
func setRecovery(string) error { return nil }
