package wire

import "time"

// Flag clients: applications and services outside the fleet (a CI
// pipeline, a cloud function, a backend) that read flags from the server
// over OFREP with a client key.
const (
	PathFlagClients = "/api/v1/flag-clients"
	// PathFlagClientsBulk enables, disables or rotates the keys of
	// several clients at once.
	PathFlagClientsBulk = "/api/v1/flag-clients/bulk"
	PrefixFlagClientKey = "wfc_"
)

// FlagClient is an application that evaluates flags on the server.
type FlagClient struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Kind says what it is: service, ci, function, backend, other.
	Kind string `json:"kind"`
	// Team scopes it: it evaluates the whole fleet's flags and its team's
	// ("" the fleet's only).
	Team   string `json:"team,omitempty"`
	Active bool   `json:"active"`
	// RatePerMinute bounds its evaluation requests (0: the server's
	// default); over it, 429 with Retry-After.
	RatePerMinute int `json:"rate_per_minute"`
	// Allow lists the addresses it may call from (CIDRs; empty: any).
	Allow     []string        `json:"allow,omitempty"`
	Keys      []FlagClientKey `json:"keys"`
	CreatedBy string          `json:"created_by"`
	CreatedAt time.Time       `json:"created_at"`
	LastSeen  *time.Time      `json:"last_seen,omitempty"`
}

// FlagClientKey is one of a client's keys (several live at once while
// rotating).
type FlagClientKey struct {
	ID        string     `json:"id"`
	Prefix    string     `json:"prefix"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// CreateFlagClientRequest creates a client; the answer carries its first
// key once.
type CreateFlagClientRequest struct {
	Name          string   `json:"name"`
	Description   string   `json:"description,omitempty"`
	Kind          string   `json:"kind,omitempty"`
	Team          string   `json:"team,omitempty"`
	RatePerMinute int      `json:"rate_per_minute,omitempty"`
	Allow         []string `json:"allow,omitempty"`
}

// UpdateFlagClientRequest changes a client; nil fields stay.
type UpdateFlagClientRequest struct {
	Active        *bool     `json:"active,omitempty"`
	Description   *string   `json:"description,omitempty"`
	RatePerMinute *int      `json:"rate_per_minute,omitempty"`
	Allow         *[]string `json:"allow,omitempty"`
}

// FlagClientKeyResponse is a new key's secret, shown once.
type FlagClientKeyResponse struct {
	Client FlagClient    `json:"client"`
	Key    FlagClientKey `json:"key"`
	Secret string        `json:"secret"`
}

// BulkFlagClientsRequest acts on several clients: enable, disable or
// rotate (a new key each; the old ones stay until revoked).
type BulkFlagClientsRequest struct {
	Names  []string `json:"names"`
	Action string   `json:"action"`
}

// BulkFlagClientsResponse says what happened to each client; new keys'
// secrets are shown once.
type BulkFlagClientsResponse struct {
	Done []FlagClientKeyResponse `json:"done"`
}

// FlagUsage is who evaluated a flag: per client or machine, evaluations
// in the last 24 hours and 7 days, and when last.
type FlagUsage struct {
	Flag     string            `json:"flag"`
	Subjects []FlagUsageSource `json:"subjects"`
}

// FlagUsageSource is one evaluator of a flag.
type FlagUsageSource struct {
	Subject  string    `json:"subject"` // client:NAME or machine:NAME
	Day      int64     `json:"day"`     // evaluations in the last 24 h
	Week     int64     `json:"week"`    // … in the last 7 days
	LastSeen time.Time `json:"last_seen"`
}
