// Package state reads and writes the agent's non-secret files: config.json
// (which server, which machine) and the network-map cache. Writes are
// atomic (temp file, fsync, rename); a torn or corrupt file is reported,
// never half-read.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/wirefleet/wirefleet/pkg/atomicfile"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Config is config.json. It holds no secrets: those are in the keystore.
type Config struct {
	Server string `json:"server"`
	Pin    string `json:"pin,omitempty"`
	// Pins are the server's TLS key pins its map announced (the current
	// key and the next one); when set they replace Pin, so the agent keeps
	// reaching the server across a key rotation.
	Pins       []string  `json:"pins,omitempty"`
	MachineID  string    `json:"machine_id"`
	Name       string    `json:"name"`
	IPv4       string    `json:"ipv4"`
	IPv6       string    `json:"ipv6"`
	Interface  string    `json:"interface,omitempty"`
	ListenPort int       `json:"listen_port"`
	MTU        int       `json:"mtu,omitempty"`
	EnrolledAt time.Time `json:"enrolled_at"`
	// KeyCreatedAt is when the WireGuard key in use was registered (zero:
	// at enrollment); key rotation counts from it.
	KeyCreatedAt time.Time `json:"key_created_at,omitempty"`
	// CredentialKeyAt is the KeyCreatedAt of the rotation that last
	// replaced the machine credential: each key rotation replaces it too.
	CredentialKeyAt time.Time `json:"credential_key_at,omitempty"`
	// ReleaseRoot is the release root public key (minisign) pinned at
	// enrollment; self-updates must chain to it.
	ReleaseRoot string `json:"release_root,omitempty"`
	// Channel is the release channel chosen at install (enroll --channel,
	// `wirefleet-agent channel NAME`); "" follows stable. A --channel
	// given to `run` overrides it.
	Channel string `json:"channel,omitempty"`
	// Revoked is set when the server revoked this machine; the agent then
	// stays stopped instead of retrying.
	Revoked bool `json:"revoked,omitempty"`
	// Down is set by `wirefleet-agent down`: keep syncing, no tunnel.
	Down      bool       `json:"down,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// Routing is the owner's choices about subnet routes and exit nodes
	// (run's flags and `wirefleet-agent set` keep them here).
	Routing *Routing `json:"routing,omitempty"`
}

// Routing is what this machine offers the fleet as a router and how it
// uses others' routes.
type Routing struct {
	Advertise   []string `json:"advertise_routes,omitempty"`
	ExitNode    bool     `json:"advertise_exit_node,omitempty"`
	NoSNAT      bool     `json:"no_snat_routes,omitempty"`
	Accept      bool     `json:"accept_routes,omitempty"`
	UseExitNode string   `json:"exit_node,omitempty"`
	AllowLAN    bool     `json:"exit_node_allow_lan,omitempty"`
	Checks      []string `json:"route_checks,omitempty"`
}

// TrustedPins are the server key pins the agent accepts: the announced
// set, else the enrollment's pin (none for a server with a CA's
// certificate).
func (c Config) TrustedPins() []string {
	if len(c.Pins) > 0 {
		return c.Pins
	}
	if c.Pin != "" {
		return []string{c.Pin}
	}
	return nil
}

// ErrNotEnrolled means there is no config.json.
var ErrNotEnrolled = errors.New("not enrolled (run `wirefleet-agent enroll`)")

// LoadConfig reads config.json.
func LoadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, ErrNotEnrolled
	}
	if err != nil {
		return c, fmt.Errorf("state: read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, Corrupt(path, err.Error())
	}
	if c.Server == "" || c.Name == "" {
		return c, Corrupt(path, "it names no server or machine")
	}
	return c, nil
}

// ErrCorrupt is wrapped by every error about a damaged state file or
// secret: the agent cannot run on it, and only enrolling again fixes it.
// The service stays idle on it rather than restarting in a loop.
var ErrCorrupt = errors.New("damaged agent state")

// CorruptError names the damaged file (or keystore entry) and the fix.
type CorruptError struct {
	What, Why string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s is damaged (%s): enroll this machine again with `wirefleet-agent enroll --force --server URL --token TOKEN` (or --interactive), then restart the agent", e.What, e.Why)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// Corrupt returns a *CorruptError for what (a path or a keystore entry).
func Corrupt(what, why string) error { return &CorruptError{What: what, Why: why} }

// SaveConfig writes config.json (0644: it holds nothing secret).
func SaveConfig(path string, c Config) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(path, append(b, '\n'), 0o644)
}

// Cache is the last good network map, always stored as a full map.
type Cache struct {
	SavedAt time.Time   `json:"saved_at"`
	Map     wire.NetMap `json:"map"`
}

// LoadCache reads the network-map cache. A missing cache is (Cache{}, nil
// with ok=false); a corrupt one is an error the caller logs and ignores.
func LoadCache(path string) (Cache, bool, error) {
	var c Cache
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("state: read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &c); err != nil || !c.Map.Full || c.Map.Self == nil {
		return Cache{}, false, fmt.Errorf("state: network-map cache %s is corrupt; ignoring it", path)
	}
	return c, true, nil
}

// SaveCache writes the network-map cache (0600: peer endpoints are not
// secret, but nobody else needs them).
func SaveCache(path string, c Cache) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return writeFile(path, b, 0o600)
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return atomicfile.WriteFile(path, data, mode)
}

// DefaultChannel is followed when neither the command line nor config.json
// names one.
const DefaultChannel = "stable"

var channelRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// ValidateChannel checks a release channel name (the server's rule).
func ValidateChannel(name string) error {
	if !channelRE.MatchString(name) {
		return fmt.Errorf("channel %q: want a lowercase word such as stable or beta (letters, digits, '-')", name)
	}
	return nil
}

// EffectiveChannel is the channel an agent follows: override (the
// command line) when given, else the configured one, else stable.
func (c Config) EffectiveChannel(override string) string {
	switch {
	case override != "":
		return override
	case c.Channel != "":
		return c.Channel
	}
	return DefaultChannel
}
