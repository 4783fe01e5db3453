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
