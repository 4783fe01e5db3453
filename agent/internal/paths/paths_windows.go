package paths

import (
	"os"
	"path/filepath"
)

func defaultPaths() Paths {
	base := os.Getenv("ProgramData")
	if base == "" {
		base = `C:\ProgramData`
	}
	dir := filepath.Join(base, "Wirefleet")
	return Paths{Config: dir, State: dir}
}

// controlSocket is a named pipe; the state dir does not matter on Windows.
// The pipe's ACL admits SYSTEM and Administrators only, and its name is
// under ProtectedPrefix\Administrators, where only an administrator can
// create a pipe: while the service is down no standard user can squat the
// name and answer (or phish a logout from) an admin's CLI.
func controlSocket(Paths) string { return `\\.\pipe\ProtectedPrefix\Administrators\wirefleet-agent` }
