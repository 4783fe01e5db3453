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
