package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Directory returns every person and directory group.
func (c *Client) Directory(ctx context.Context) (wire.Directory, error) {
	var out wire.Directory
	return out, c.do(ctx, http.MethodGet, wire.PathDirectory, nil, &out)
}

// CreateSCIMToken creates a bearer token for an identity provider's SCIM
// client; the secret is in the answer only.
func (c *Client) CreateSCIMToken(ctx context.Context) (wire.CreateSCIMTokenResponse, error) {
	var out wire.CreateSCIMTokenResponse
	return out, c.do(ctx, http.MethodPost, wire.PathSCIMTokens, struct{}{}, &out)
}

// ListSCIMTokens lists the SCIM tokens.
func (c *Client) ListSCIMTokens(ctx context.Context) ([]wire.SCIMToken, error) {
	var out []wire.SCIMToken
	return out, c.do(ctx, http.MethodGet, wire.PathSCIMTokens, nil, &out)
}

// RevokeSCIMToken revokes a SCIM token by ID or prefix.
func (c *Client) RevokeSCIMToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, wire.PathSCIMTokens+"/"+url.PathEscape(id), nil, nil)
}

// Teams lists the teams (one's own, for a team role).
func (c *Client) Teams(ctx context.Context) ([]wire.Team, error) {
	var out []wire.Team
	return out, c.do(ctx, http.MethodGet, wire.PathTeams, nil, &out)
}

// PutTeam creates or replaces a team.
func (c *Client) PutTeam(ctx context.Context, name string, req wire.PutTeamRequest) (wire.Team, error) {
	var out wire.Team
	return out, c.do(ctx, http.MethodPut, wire.PathTeams+"/"+url.PathEscape(name), req, &out)
}

// DeleteTeam removes a team.
func (c *Client) DeleteTeam(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, wire.PathTeams+"/"+url.PathEscape(name), nil, nil)
}

// CreateFlagClient creates a flag client; its first key's secret is in
// the answer only.
func (c *Client) CreateFlagClient(ctx context.Context, req wire.CreateFlagClientRequest) (wire.FlagClientKeyResponse, error) {
	var out wire.FlagClientKeyResponse
	return out, c.do(ctx, http.MethodPost, wire.PathFlagClients, req, &out)
}

// FlagClients lists the flag clients.
func (c *Client) FlagClients(ctx context.Context) ([]wire.FlagClient, error) {
	var out []wire.FlagClient
	return out, c.do(ctx, http.MethodGet, wire.PathFlagClients, nil, &out)
}

// UpdateFlagClient changes a flag client.
func (c *Client) UpdateFlagClient(ctx context.Context, name string, req wire.UpdateFlagClientRequest) (wire.FlagClient, error) {
	var out wire.FlagClient
	return out, c.do(ctx, http.MethodPatch, wire.PathFlagClients+"/"+url.PathEscape(name), req, &out)
}

// DeleteFlagClient removes a flag client.
func (c *Client) DeleteFlagClient(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, wire.PathFlagClients+"/"+url.PathEscape(name), nil, nil)
}

// RotateFlagClientKey adds a key to a client (the secret in the answer
// only); the others keep working until revoked.
func (c *Client) RotateFlagClientKey(ctx context.Context, name string) (wire.FlagClientKeyResponse, error) {
	var out wire.FlagClientKeyResponse
	return out, c.do(ctx, http.MethodPost, wire.PathFlagClients+"/"+url.PathEscape(name)+"/keys", struct{}{}, &out)
}

// RevokeFlagClientKey revokes one of a client's keys by ID or prefix.
func (c *Client) RevokeFlagClientKey(ctx context.Context, name, key string) (wire.FlagClient, error) {
	var out wire.FlagClient
	return out, c.do(ctx, http.MethodDelete, wire.PathFlagClients+"/"+url.PathEscape(name)+"/keys/"+url.PathEscape(key), nil, &out)
}

// BulkFlagClients enables, disables or rotates several clients.
func (c *Client) BulkFlagClients(ctx context.Context, req wire.BulkFlagClientsRequest) (wire.BulkFlagClientsResponse, error) {
	var out wire.BulkFlagClientsResponse
	return out, c.do(ctx, http.MethodPost, wire.PathFlagClientsBulk, req, &out)
}

// FlagUsage says who evaluated a flag in the last day and week.
func (c *Client) FlagUsage(ctx context.Context, key string) (wire.FlagUsage, error) {
	var out wire.FlagUsage
	return out, c.do(ctx, http.MethodGet, wire.PathFlags+"/"+url.PathEscape(key)+"/usage", nil, &out)
}
