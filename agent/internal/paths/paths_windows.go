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

// controlSocket is a named pipe; the state dir does not matter on Windows
// (the pipe's ACL admits SYSTEM and Administrators only).
func controlSocket(Paths) string { return `\\.\pipe\wirefleet-agent` }
