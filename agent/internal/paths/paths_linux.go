package paths

import "path/filepath"

func defaultPaths() Paths { return Paths{Config: "/etc/wirefleet", State: "/var/lib/wirefleet"} }

func controlSocket(p Paths) string { return filepath.Join(p.State, "agent.sock") }
