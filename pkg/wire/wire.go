package wire

import (
	"encoding/json"
	"time"
)

// API paths. Agents and admins share the /api/v1 prefix.
const (
	PathEnroll    = "/api/v1/enroll"
	PathNetmap    = "/api/v1/agent/netmap"
	PathEndpoints = "/api/v1/agent/endpoints"
	PathRekey     = "/api/v1/agent/rekey"
	// PathEnrollInteractive asks to join without a token;
	// PathEnrollWait waits for the admin's decision.
	PathEnrollInteractive = "/api/v1/enroll/interactive"
	PathEnrollWait        = "/api/v1/enroll/interactive/wait"
	// PathEnrollments lists and decides pending interactive enrollments.
	PathEnrollments = "/api/v1/enrollments"
	// PathReauth re-authenticates an expired machine with a token.
	PathReauth = "/api/v1/agent/reauth"
	// PathCredential issues the machine's next credential (rotation).
	PathCredential = "/api/v1/agent/credential"
	PathLogout     = "/api/v1/agent/logout"
	PathRelay      = "/api/v1/agent/relay" // WebSocket; frames in pkg/relayframe
	PathRelayMesh  = "/api/v1/relay/mesh"  // WebSocket between server replicas
	PathTokens     = "/api/v1/tokens"
	PathMachines   = "/api/v1/machines"
	// PathRotateKeys asks every active machine to replace its WireGuard key.
	PathRotateKeys = "/api/v1/machines/rotate-keys"
	PathAudit      = "/api/v1/audit"
	PathAPIKeys    = "/api/v1/apikeys"
	PathAdmins     = "/api/v1/admins"
	PathServer     = "/api/v1/server"
	// PathTLSRotate makes the server serve with its announced next key.
	PathTLSRotate = "/api/v1/server/tls/rotate"
	// PathSecrets lists the server's own secrets; /seal seals them,
	// /rotate replaces one.
	PathSecrets = "/api/v1/server/secrets"
	// PathOpenAPI serves the OpenAPI 3.1 description of the API.
	PathOpenAPI = "/api/v1/openapi.json"
)

// Secret prefixes. Every secret is the prefix followed by 256 random bits in
// base32 (lowercase, no padding), so a leaked string is recognisable by
// secret scanners and its kind is obvious in logs that should never hold it.
const (
	PrefixEnrollToken   = "wfe_"
	PrefixPendingSecret = "wfp_" // an interactive enrollment's waiting secret
	PrefixMachineCred   = "wfm_"
	PrefixAdminKey      = "wfa_"
	PrefixSCIMToken     = "wfs_" // an identity provider's SCIM bearer token
)

// EnrollRequest is posted by an agent with a one-time (or reusable) token.
// The private key never leaves the machine; only PublicKey is sent.
type EnrollRequest struct {
	Token        string   `json:"token"`
	PublicKey    string   `json:"public_key"`     // base64 WireGuard public key
	Hostname     string   `json:"hostname"`       // as reported by the OS
	Name         string   `json:"name,omitempty"` // requested machine name; hostname when empty
	OS           string   `json:"os"`             // GOOS
	Arch         string   `json:"arch"`           // GOARCH
	OSVersion    string   `json:"os_version,omitempty"`
	AgentVersion string   `json:"agent_version"`
	Endpoints    []string `json:"endpoints,omitempty"`   // ip:port candidates
	ListenPort   int      `json:"listen_port,omitempty"` // WireGuard UDP port; the server pairs it with the source address it sees
}

// EnrollResponse carries the machine's identity. Credential is shown only
// here, once; the server keeps its hash.
type EnrollResponse struct {
	MachineID  string `json:"machine_id"`
	Name       string `json:"name"`
	IPv4       string `json:"ipv4"`
	IPv6       string `json:"ipv6"`
	Credential string `json:"credential"`
	Netmap     NetMap `json:"netmap"`
}

// Self is the receiving machine's own view of its place in the overlay.
type Self struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	IPv4      string `json:"ipv4"`      // bare address, e.g. 100.64.0.7
	IPv6      string `json:"ipv6"`      // bare address in the server's ULA /48
	Prefix4   string `json:"prefix4"`   // overlay IPv4 prefix, 100.64.0.0/10
	Prefix6   string `json:"prefix6"`   // overlay IPv6 prefix, the ULA /48
	MTU       int    `json:"mtu"`       // suggested tunnel MTU
	Keepalive int    `json:"keepalive"` // persistent keepalive seconds for peers
	// STUN is the host:port of the server's STUN responder ("" = none);
	// Relay says the server relays packets (relay.Path).
	STUN  string `json:"stun,omitempty"`
	Relay bool   `json:"relay,omitempty"`
	// DNSDomain is the fleet's DNS domain ("fleet.internal"): every
	// machine in the map is NAME.<DNSDomain>. Empty: names are off.
	DNSDomain string `json:"dns_domain,omitempty"`
	// DNSRecords are the admin's records in that domain, all of them.
	DNSRecords []DNSRecord `json:"dns_records,omitempty"`
	// Filter is what this machine enforces on its tunnel under the access
	// policy; nil when no policy is set (every peer may reach every port).
	Filter *Filter `json:"filter,omitempty"`
	// PublicKey is the WireGuard key the server has for this machine (the
	// peers' maps carry it): an agent that crashed in the middle of a key
	// rotation learns here which of its two keys is in force.
	PublicKey string `json:"public_key,omitempty"`
	// RotateKeyBefore, when set, asks the agent to replace a WireGuard key
	// created before it (an admin's request, for one machine or the fleet).
	RotateKeyBefore *time.Time `json:"rotate_key_before,omitempty"`
	// ServerPins are the pins of the server's self-signed TLS key and of the
	// next one it will rotate to ("" for a certificate from a CA): the
	// agent accepts either, so a rotation breaks no connection.
	ServerPins []string `json:"server_pins,omitempty"`
	// Routes are the subnet routes (and exit nodes: 0.0.0.0/0, ::/0) this
	// machine may use — approved, and granted to it by the policy — each
	// with the peers that carry it, primary first.
	Routes []SelfRoute `json:"routes,omitempty"`
	// Serves are the routes this machine carries for the fleet (approved):
	// it forwards to them, under its filter's rules with Dst.
	Serves []string `json:"serves,omitempty"`
	// PeerRelay says this machine relays for others (the policy's
	// "relays"); Relays are the relay machines it may use (wire.PeerRelay).
	PeerRelay bool        `json:"peer_relay,omitempty"`
	Relays    []PeerRelay `json:"relays,omitempty"`
	// FlowLogs, when set, asks this machine to log the flows its filter
	// sees (the policy's "flowLogs") and send them (PathAgentFlows).
	FlowLogs *FlowLogs `json:"flow_logs,omitempty"`
	// SSH, when set, turns this machine's SSH server on under these
	// rules (the policy's "ssh" rules that name it as a destination).
	SSH *SSHPolicy `json:"ssh,omitempty"`
}

// Peer is one other machine the receiver should be able to reach.
type Peer struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PublicKey  string   `json:"public_key"`
	IPv4       string   `json:"ipv4"`
	IPv6       string   `json:"ipv6"`
	AllowedIPs []string `json:"allowed_ips"` // CIDRs to route to this peer
	Endpoints  []string `json:"endpoints"`   // host:port candidates, best first
	Tags       []string `json:"tags"`
	// Postures are the postures of the policy's srcPosture rules this
	// peer has (its filter rules' SrcPosture checks them).
	Postures []string `json:"postures,omitempty"`
	// Groups are the directory groups of the peer's owner that the
	// policy names ("directory:NAME" in a filter rule's Src).
	Groups []string `json:"groups,omitempty"`
}

// NetMap is the answer to a network-map poll. It is one of three shapes,
// told apart explicitly so that "nothing changed" can never be confused with
// "you have no peers" (headscale #1384):
//
//   - Unchanged: Version equals the version the agent sent; all else empty.
//   - Full: Peers is the complete peer list (an empty, non-nil slice when the
//     machine has no peers); the agent replaces its whole list.
//   - Delta: Added, Changed and Removed are relative to the version the agent
//     sent; peers not mentioned are unchanged. Agents treat Added and Changed
//     alike (insert or replace by ID); Removed may name a peer the agent never
//     saw (added and removed since V), which it ignores.
//
// Self is present in full maps and in deltas where the machine itself
// changed (renamed, re-keyed).
type NetMap struct {
	Version   uint64   `json:"version"`
	Unchanged bool     `json:"unchanged,omitempty"`
	Full      bool     `json:"full,omitempty"`
	Self      *Self    `json:"self,omitempty"`
	Peers     []Peer   `json:"peers,omitempty"`
	Added     []Peer   `json:"added,omitempty"`
	Changed   []Peer   `json:"changed,omitempty"`
	Removed   []string `json:"removed,omitempty"` // peer IDs
}

// EndpointsRequest reports the endpoints an agent believes it is reachable
// on. The server adds the source address it observed.
type EndpointsRequest struct {
	Endpoints  []string `json:"endpoints"`
	ListenPort int      `json:"listen_port,omitempty"`
}

// RekeyRequest replaces the machine's WireGuard public key.
type RekeyRequest struct {
	PublicKey string `json:"public_key"`
}

// Token describes an enrollment token. The secret itself is never listed;
// Prefix is enough to recognise it.
type Token struct {
	ID        string     `json:"id"`
	Prefix    string     `json:"prefix"`
	Reusable  bool       `json:"reusable"`
	Ephemeral bool       `json:"ephemeral"`
	MaxUses   int        `json:"max_uses"` // 0 = unlimited (reusable only)
	Uses      int        `json:"uses"`
	Tags      []string   `json:"tags"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	State     string     `json:"state"` // active, expired, revoked, exhausted
	// MachineExpiry is how long machines enrolled (or re-authenticated)
	// with this token stay enrolled, overriding the server's
	// --machine-expiry ("" = the server's).
	MachineExpiry string `json:"machine_expiry,omitempty"`
	// Owner is the person whose machines enroll with it ("" none): they
	// are in the policy's directory groups of that person.
	Owner string `json:"owner,omitempty"`
}

// CreateTokenRequest creates an enrollment token. A token that is not
// Reusable may be used once. ExpiresIn is a Go duration ("24h"); empty means
// the server default.
type CreateTokenRequest struct {
	Reusable  bool     `json:"reusable,omitempty"`
	Ephemeral bool     `json:"ephemeral,omitempty"`
	MaxUses   int      `json:"max_uses,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	ExpiresIn string   `json:"expires_in,omitempty"`
	// MachineExpiry: see Token.MachineExpiry (a Go duration).
	MachineExpiry string `json:"machine_expiry,omitempty"`
	// Owner: see Token.Owner (an account's name).
	Owner string `json:"owner,omitempty"`
}

// CreateTokenResponse returns the token secret, once.
type CreateTokenResponse struct {
	Token  Token  `json:"token"`
	Secret string `json:"secret"`
}

// Machine states.
const (
	MachineActive  = "active"
	MachineRevoked = "revoked"
	// MachineExpired: its enrollment reached its expiry; it is out of every
	// map until it re-authenticates with a token, keeping its name and
	// addresses.
	MachineExpired = "expired"
)

// Machine is the admin view of an enrolled machine.
type Machine struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Hostname     string     `json:"hostname"`
	OS           string     `json:"os"`
	OSVersion    string     `json:"os_version,omitempty"`
	Arch         string     `json:"arch"`
	AgentVersion string     `json:"agent_version"`
	PublicKey    string     `json:"public_key"`
	IPv4         string     `json:"ipv4"`
	IPv6         string     `json:"ipv6"`
	Tags         []string   `json:"tags"`
	Endpoints    []string   `json:"endpoints"`
	Ephemeral    bool       `json:"ephemeral"`
	State        string     `json:"state"`  // active or revoked
	Online       bool       `json:"online"` // has a live connection to the server
	CreatedAt    time.Time  `json:"created_at"`
	LastSeen     *time.Time `json:"last_seen,omitempty"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	// Health is the latest health report, when one has arrived.
	Health *HealthReport `json:"health,omitempty"`
	// LastUpdate is the outcome of the machine's last self-update.
	LastUpdate *UpdateStatus `json:"last_update,omitempty"`
	// Updates is the machine's update history, newest first (only when
	// one machine is asked for).
	Updates []UpdateStatus `json:"updates,omitempty"`
	// PinnedVersion is the agent version an admin pinned this machine to;
	// empty when it follows its channel.
	PinnedVersion string `json:"pinned_version,omitempty"`
	// KeyCreatedAt is when the machine's WireGuard key was registered
	// (at enrollment, then at each rotation).
	KeyCreatedAt *time.Time `json:"key_created_at,omitempty"`
	// RotateKeyBefore is an admin's pending request that the agent replace
	// a key older than this; it is done once KeyCreatedAt passes it.
	RotateKeyBefore *time.Time `json:"rotate_key_before,omitempty"`
	// ExpiresAt is when the machine's enrollment expires (nil: never);
	// ExpiryDisabled says an admin turned expiry off for it.
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
	ExpiryDisabled bool       `json:"expiry_disabled,omitempty"`
	// Owner is the person whose machine it is: who approved its
	// interactive enrollment, its token's owner, or whom an admin named
	// ("" for none).
	Owner string `json:"owner,omitempty"`
	// OwnerGroups are the owner's directory groups while the owner is
	// active: what the policy's "directory:NAME" selectors match.
	OwnerGroups []string `json:"owner_groups,omitempty"`
	// Routes is what the machine advertises as a subnet router or exit
	// node, and what admins decided of it (nil: it advertises nothing).
	Routes *MachineRoutes `json:"routes,omitempty"`
	// Facts are the machine's inventory facts as its agent last sent
	// them, at FactsAt (nil: none yet, or an agent that predates them).
	Facts   *Facts     `json:"facts,omitempty"`
	FactsAt *time.Time `json:"facts_at,omitempty"`
	// SeenWithin lists the durations of the policy's last_seen posture
	// conditions ("10m0s") the machine was last seen within, as the
	// server's sweep last found (every 30 s).
	SeenWithin []string `json:"seen_within,omitempty"`
}

// PendingEnrollment is a machine's request to join without a token,
// waiting for an admin's decision.
type PendingEnrollment struct {
	Code      string    `json:"code"` // what the owner opens: <server>/e/<code>
	Hostname  string    `json:"hostname"`
	Name      string    `json:"name,omitempty"`
	OS        string    `json:"os"`
	Arch      string    `json:"arch"`
	PublicKey string    `json:"public_key"`
	SourceIP  string    `json:"source_ip"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	State     string    `json:"state"` // pending, approved, denied, enrolled, expired
	DecidedBy string    `json:"decided_by,omitempty"`
	MachineID string    `json:"machine_id,omitempty"`
}

// InteractiveEnrollResponse answers an interactive enrollment request: the
// agent shows URL and waits (PathEnrollWait) with Secret.
type InteractiveEnrollResponse struct {
	Code      string    `json:"code"`
	URL       string    `json:"url"`
	Secret    string    `json:"secret"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CredentialResponse carries a machine's next credential. It works beside
// the current one until its first use, which retires the current one.
type CredentialResponse struct {
	Credential string `json:"credential"`
}

// TLSRotateRequest rotates the server's self-signed TLS key. Without
// Force it is refused while an active machine has not confirmed the next
// key (its agent would lose the server).
type TLSRotateRequest struct {
	Force bool `json:"force,omitempty"`
}

// TLSRotateResponse names the pins after a rotation.
type TLSRotateResponse struct {
	Pin     string `json:"pin"`      // the key now serving (one-liners carry it)
	NextPin string `json:"next_pin"` // announced for the next rotation
}

// SecretsStatus describes the server's own secrets (secrets status).
type SecretsStatus struct {
	Mode       string       `json:"mode"`                 // sealed or plain
	Source     string       `json:"source,omitempty"`     // where the key-encryption key came from
	Recipient  string       `json:"recipient,omitempty"`  // the KEK's public half (age1…)
	KEKCreated time.Time    `json:"kek_created,omitzero"` // when the KEK was made
	Secrets    []SecretInfo `json:"secrets"`              // each secret, sealed or plain
	Warnings   []string     `json:"warnings,omitempty"`   // plain secrets, old ones
	MaxAge     string       `json:"max_age,omitempty"`    // the age past which a secret is warned about
}

// SecretInfo is one of the server's secrets (never its value).
type SecretInfo struct {
	Name    string    `json:"name"`
	Sealed  bool      `json:"sealed"`
	Created time.Time `json:"created"`
	Rotated time.Time `json:"rotated"`
	Origin  string    `json:"origin"`
}

// RotateSecretRequest replaces one of the server's secrets: tls, signing,
// sso (Value: the new client secret the provider issued), metrics, kek.
type RotateSecretRequest struct {
	Secret string `json:"secret"`
	Value  string `json:"value,omitempty"`
	Force  bool   `json:"force,omitempty"` // tls: as tls rotate --force
}

// RotateSecretResponse says what changed.
type RotateSecretResponse struct {
	Secret string `json:"secret"`
	// Token is the new metrics token (shown once).
	Token string `json:"token,omitempty"`
	// Pin and NextPin after a TLS rotation.
	Pin     string `json:"pin,omitempty"`
	NextPin string `json:"next_pin,omitempty"`
	// Recipient is the new KEK's public half.
	Recipient string `json:"recipient,omitempty"`
	// Resigned counts the manifests signed again with a new signing key.
	Resigned int `json:"resigned,omitempty"`
}

// RotateKeysResponse says how many machines were asked to rotate their key.
type RotateKeysResponse struct {
	Machines int `json:"machines"`
}

// UpdateMachineRequest renames or re-tags a machine. Nil fields are left as
// they are; an empty, non-nil Tags clears the tags.
type UpdateMachineRequest struct {
	Name *string   `json:"name,omitempty"`
	Tags *[]string `json:"tags,omitempty"`
	// PinnedVersion pins the machine's agent to a published version ("" =
	// unpin). A pin may go back to an older release: it overrides the
	// agent's refusal to downgrade, and the channel's rollout and pause.
	PinnedVersion *string `json:"pinned_version,omitempty"`
	// Expiry sets the machine's expiry: "off" (never expires), or a Go
	// duration from now ("720h"), which also turns it back on.
	Expiry *string `json:"expiry,omitempty"`
	// Owner names the person whose machine it is (an account; "" for
	// none): the policy's directory groups follow that person.
	Owner *string `json:"owner,omitempty"`
}

// ReauthRequest re-authenticates an expired machine with an enrollment
// token: it keeps its name, addresses and keys, and gets a new expiry.
type ReauthRequest struct {
	Token string `json:"token"`
}

// AuditEvent is one entry in the audit log.
type AuditEvent struct {
	ID       int64          `json:"id"`
	At       time.Time      `json:"at"`
	Actor    string         `json:"actor"`  // admin:<name>, machine:<id>, token:<prefix>, local:cli
	Action   string         `json:"action"` // e.g. token.create, machine.enroll, machine.revoke
	Target   string         `json:"target"`
	SourceIP string         `json:"source_ip"`
	Details  map[string]any `json:"details,omitempty"`
}

// AuditPage is a page of the audit log, newest first. Pass Next as the
// "before" query parameter to get the following page; 0 means no more.
type AuditPage struct {
	Events []AuditEvent `json:"events"`
	Next   int64        `json:"next,omitempty"`
}

// Admin is an administrator of the server.
type Admin struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// Role is RoleAdmin, or RoleMember for a single sign-on user who may
	// only approve the machines they add.
	Role string `json:"role,omitempty"`
	// Deactivated: the directory deprovisioned the person (SCIM active
	// false); no sign-in, session or API key of theirs works.
	Deactivated bool `json:"deactivated,omitempty"`
	// DisplayName and ExternalID come from the directory (SCIM).
	DisplayName string `json:"display_name,omitempty"`
	ExternalID  string `json:"external_id,omitempty"`
	// Groups are the person's directory groups.
	Groups []string `json:"groups,omitempty"`
}

// Roles of accounts.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// CreateAdminRequest creates an admin.
type CreateAdminRequest struct {
	Name string `json:"name"`
}

// CreateAdminResponse returns the new admin's password and first API key,
// each once.
type CreateAdminResponse struct {
	Admin    Admin  `json:"admin"`
	Password string `json:"password"`
	APIKey   string `json:"api_key"`
}

// PasswordResponse carries a newly generated admin password, once.
type PasswordResponse struct {
	Admin    Admin  `json:"admin"`
	Password string `json:"password"`
}

// APIKey describes an admin API key; the secret is never listed.
type APIKey struct {
	ID         string     `json:"id"`
	Prefix     string     `json:"prefix"`
	Admin      string     `json:"admin"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// CreateAPIKeyRequest creates an API key for the calling admin (or, over the
// local socket, for Admin).
type CreateAPIKeyRequest struct {
	Admin     string `json:"admin,omitempty"`
	ExpiresIn string `json:"expires_in,omitempty"`
}

// CreateAPIKeyResponse returns the key secret, once.
type CreateAPIKeyResponse struct {
	Key    APIKey `json:"key"`
	Secret string `json:"secret"`
}

// ServerInfo describes the server to admin tools.
type ServerInfo struct {
	Version string `json:"version"`
	URL     string `json:"url"`
	Pin     string `json:"pin,omitempty"` // sha256/<base64 SPKI hash> when self-signed
	// ReleaseKey is the release root public key (minisign), once releases
	// are published; InstallPS1 the SHA-256 of the install.ps1 served.
	// Both go into the PowerShell one-liner.
	ReleaseKey string    `json:"release_key,omitempty"`
	InstallPS1 string    `json:"install_ps1_sha256,omitempty"`
	Prefix4    string    `json:"prefix4"`
	Prefix6    string    `json:"prefix6"`
	NetmapVer  uint64    `json:"netmap_version"`
	Machines   int       `json:"machines"`
	Connected  int       `json:"connected"`
	StartedAt  time.Time `json:"started_at"`
}

// PathHealth is where agents post health reports.
const PathHealth = "/api/v1/agent/health"

// HealthAck answers a health report.
type HealthAck struct {
	// Releases is an opaque tag of the releases the server offers; when it
	// changes the agent looks for an update at once instead of at its next
	// periodic check. Empty when the server has no releases.
	Releases string `json:"releases,omitempty"`
	// Pin is the version an admin pinned this machine to, if any.
	Pin string `json:"pin,omitempty"`
}

// HealthReport is one periodic report from an agent. The server keeps the
// latest per machine and a bounded history.
type HealthReport struct {
	At           time.Time    `json:"at"` // agent clock
	AgentVersion string       `json:"agent_version"`
	OS           string       `json:"os"`
	Platform     string       `json:"platform,omitempty"` // e.g. "debian 12.7", "Windows 11 Pro"
	Kernel       string       `json:"kernel,omitempty"`
	UptimeSec    uint64       `json:"uptime_sec"`
	CPUPercent   float64      `json:"cpu_percent"`
	MemTotal     uint64       `json:"mem_total"`
	MemUsed      uint64       `json:"mem_used"`
	DiskTotal    uint64       `json:"disk_total"`
	DiskUsed     uint64       `json:"disk_used"`
	Tunnel       TunnelHealth `json:"tunnel"`
	// Update, when set, reports the outcome of the last self-update once.
	Update *UpdateStatus `json:"update,omitempty"`
	// Dropped counts reports the agent discarded from its offline queue
	// (oldest first) while the server was unreachable.
	Dropped int `json:"dropped,omitempty"`
	// ServerPins are the TLS key pins the agent accepts (at most
	// MaxServerPins): the server rotates its key only once every agent
	// holds the next one.
	ServerPins []string `json:"server_pins,omitempty"`
	// Facts, when set, are the machine's inventory facts, sent when they
	// changed (Machine.Facts keeps the latest; history does not).
	Facts *Facts `json:"facts,omitempty"`
	// FlagUsage counts the flag evaluations the agent served on the
	// machine since its last report, per flag key: who uses a flag,
	// without a request per evaluation.
	FlagUsage map[string]int64 `json:"flag_usage,omitempty"`
}

// MaxFlagUsageKeys bounds a report's FlagUsage.
const MaxFlagUsageKeys = 1000

// MaxServerPins bounds the pins an agent reports and a map carries.
const MaxServerPins = 4

// TunnelHealth is the tunnel part of a health report. Per-peer detail is
// capped at MaxHealthPeers (most recent handshakes first) so that a report
// stays small in a large full mesh; the counts cover every peer.
type TunnelHealth struct {
	Up        bool         `json:"up"`
	Interface string       `json:"interface,omitempty"`
	PeerCount int          `json:"peer_count"`
	Connected int          `json:"connected"` // peers with a handshake in the last 3 minutes
	Peers     []PeerHealth `json:"peers"`
	// Error says why the tunnel cannot be created while it is down
	// (at most MaxTunnelErrorLen bytes, printable).
	Error string `json:"error,omitempty"`
}

// MaxTunnelErrorLen caps TunnelHealth.Error.
const MaxTunnelErrorLen = 256

// MaxHealthPeers caps the per-peer entries in a health report.
const MaxHealthPeers = 32

// PeerHealth is one peer as the agent's WireGuard device sees it.
type PeerHealth struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	Endpoint      string     `json:"endpoint,omitempty"`
	LastHandshake *time.Time `json:"last_handshake,omitempty"`
	RxBytes       int64      `json:"rx_bytes"`
	TxBytes       int64      `json:"tx_bytes"`
	// Path is how packets reach the peer: "direct" (to Endpoint), "relay"
	// or "none"; empty from agents before NAT traversal.
	Path string `json:"path,omitempty"`
	// LatencyMS is the round trip of the last answered probe on a direct
	// path, in milliseconds.
	LatencyMS float64    `json:"latency_ms,omitempty"`
	LastProbe *time.Time `json:"last_probe,omitempty"`
}

// PeerPaths are the values of PeerHealth.Path ("peer-relay": through a
// peer relay, see PeerRelay).
var PeerPaths = []string{"", "direct", "peer-relay", "relay", "none"}

// MaxLatencyMS bounds PeerHealth.LatencyMS.
const MaxLatencyMS = 60_000

// MachineHealth is the admin view of a machine's health: the latest report
// and the stored history, newest first.
type MachineHealth struct {
	MachineID  string         `json:"machine_id"`
	Online     bool           `json:"online"`
	ReceivedAt *time.Time     `json:"received_at,omitempty"` // when the latest report arrived
	Latest     *HealthReport  `json:"latest,omitempty"`
	History    []HealthReport `json:"history"`
}

// Flag paths.
const (
	PathFlags      = "/api/v1/flags"
	PathAgentFlags = "/api/v1/agent/flags"
)

// Flag types.
const (
	FlagBoolean = "boolean"
	FlagString  = "string"
	FlagNumber  = "number"
	FlagObject  = "object"
)

// Flag is a feature flag: a typed default value and ordered targeting
// rules; the first rule that matches a machine decides its value.
type Flag struct {
	Key         string          `json:"key"`
	Type        string          `json:"type"`
	Enabled     bool            `json:"enabled"`
	Default     json.RawMessage `json:"default"`
	Rules       []FlagRule      `json:"rules"`
	Description string          `json:"description,omitempty"`
	// Team is the team the flag belongs to ("" the whole fleet): only
	// machines with one of the team's tags receive it, only clients of
	// the team evaluate it, and the team's admins manage it.
	Team      string    `json:"team,omitempty"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

// FlagRule matches machines by their facts; every condition given must
// hold (a list matches when any of its entries does). Percentage, when
// set, then admits the share of matching machines whose bucket — a
// consistent hash of (flag key, machine ID), as flagd's "fractional" —
// falls below it, so a machine keeps its bucket as the percentage grows.
type FlagRule struct {
	Tags       []string        `json:"tags,omitempty"`
	OS         []string        `json:"os,omitempty"`
	Arch       []string        `json:"arch,omitempty"`
	Names      []string        `json:"names,omitempty"`
	MinVersion string          `json:"min_version,omitempty"` // agent version ≥ (semver, "v" optional)
	MaxVersion string          `json:"max_version,omitempty"` // agent version <
	Percentage *float64        `json:"percentage,omitempty"`  // 0–100
	Value      json.RawMessage `json:"value"`
	Variant    string          `json:"variant,omitempty"`
}

// MachineFacts are what rules match on; the server sends them with the
// flag set because tags live on the server.
type MachineFacts struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Tags         []string `json:"tags"`
	OS           string   `json:"os"`
	Arch         string   `json:"arch"`
	AgentVersion string   `json:"agent_version"`
}

// FlagSet is what an agent fetches: every flag and its own facts. Version
// is the server's flags version, also sent as the ETag.
type FlagSet struct {
	Version int64        `json:"version"`
	Machine MachineFacts `json:"machine"`
	Flags   []Flag       `json:"flags"`
}

// Release publishing paths (admin).
const (
	PathReleases = "/api/v1/releases"
)

// PublishKeysRequest uploads the root public key (pinned by the server on
// first use) and a keys.json signed by that root.
type PublishKeysRequest struct {
	RootPublicKey string `json:"root_public_key"`
	KeysJSON      string `json:"keys_json"`
	Signature     string `json:"signature"`
}

// PublishManifestRequest uploads a channel's signed manifest; its
// artifacts must have been uploaded first.
type PublishManifestRequest struct {
	Manifest  string `json:"manifest"`
	Signature string `json:"signature"`
	// AllowOlder accepts a version older than the channel's current one:
	// agents running the newer one keep it (they never downgrade), while
	// new installs get the older one.
	AllowOlder bool `json:"allow_older,omitempty"`
}

// ReleasesInfo lists each channel's manifest and how many machines run
// each agent version.
type ReleasesInfo struct {
	Channels []json.RawMessage `json:"channels"`
	Versions map[string]int    `json:"versions"`
	// Updates are the fleet's latest self-update attempts, newest first.
	Updates []UpdateAttempt `json:"updates"`
}

// UpdateAttempt is one machine's self-update attempt.
type UpdateAttempt struct {
	MachineID string `json:"machine_id"`
	Machine   string `json:"machine"` // its name
	UpdateStatus
}

// UpdateStatus tells the server what became of an agent's self-update.
type UpdateStatus struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	State  string    `json:"state"` // ok, rolled_back, failed
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// DNSRecord is an admin-defined record in the fleet's DNS domain: Name is
// relative to the domain ("db" is db.fleet.internal, "api.prod" is
// api.prod.fleet.internal); Type is A, AAAA or CNAME; Value an address,
// or for a CNAME the full name it points at. A machine of the same name
// wins over a record.
type DNSRecord struct {
	Name      string     `json:"name"`
	Type      string     `json:"type"`
	Value     string     `json:"value"`
	CreatedBy string     `json:"created_by,omitempty"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
}

// DNSRecordsResponse lists the fleet's DNS records.
type DNSRecordsResponse struct {
	Domain  string      `json:"domain"` // "" when names are off
	Records []DNSRecord `json:"records"`
}
