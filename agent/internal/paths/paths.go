// Package paths knows where the agent keeps its files on each OS, and is
// the one place that names them: configuration (config.json) and state
// (secrets/, the network-map cache, the flag cache, the health queue, the
// update directory and the control socket). Tests and unusual installs pass
// --state-dir, which puts everything in one directory.
package paths

import "path/filepath"

// Paths are the agent's directories.
type Paths struct {
	Config string // config.json lives here
	State  string // secrets/, netmap.json, flags.json, health-queue.json, update/, agent.sock
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

// FlagCache is the last good flag set, served to local applications while
// the server is unreachable.
func (p Paths) FlagCache() string { return filepath.Join(p.State, "flags.json") }

// HealthQueue holds health reports not yet delivered to the server.
func (p Paths) HealthQueue() string { return filepath.Join(p.State, "health-queue.json") }

// FlowQueue is the on-disk queue of flow records not yet delivered
// (gzip-compressed JSON).
func (p Paths) FlowQueue() string { return filepath.Join(p.State, "flows-queue.json.gz") }

// UpdateDir holds downloads, the pending-update marker and the record of
// versions that failed here.
func (p Paths) UpdateDir() string { return filepath.Join(p.State, "update") }

// ControlSocket is where the running agent answers status, up/down and
// logout: a root-only Unix socket in the state dir (a named pipe on
// Windows, see paths_windows.go).
func (p Paths) ControlSocket() string { return controlSocket(p) }
