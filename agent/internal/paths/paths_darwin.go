package paths

import "path/filepath"

func defaultPaths() Paths {
	const dir = "/Library/Application Support/Wirefleet"
	return Paths{Config: dir, State: dir}
}

func controlSocket(p Paths) string { return filepath.Join(p.State, "agent.sock") }
