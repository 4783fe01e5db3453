// Package paths knows where the agent keeps its files on each OS:
// configuration (config.json) and state (secrets, network-map cache,
// control socket). Tests and unusual installs pass --state-dir, which puts
// everything in one directory.
package paths

import "path/filepath"

// Paths are the agent's directories.
type Paths struct {
	Config string // config.json lives here
	State  string // secrets/, netmap.json, agent.sock
}

// Default returns the OS's standard locations.
func Default() Paths { return defaultPaths() }

// In returns paths with everything under dir.
func In(dir string) Paths { return Paths{Config: dir, State: dir} }

// ConfigFile is the agent's non-secret configuration.
func (p Paths) ConfigFile() string { return filepath.Join(p.Config, "config.json") }

// NetmapCache is the last good network map, used to bring the tunnel up
// while the server is unreachable.
func (p Paths) NetmapCache() string { return filepath.Join(p.State, "netmap.json") }
