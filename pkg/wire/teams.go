package wire

import "time"

// PathTeams lists teams (GET); PathTeams/{name} creates or replaces one
// (PUT) and deletes it (DELETE).
const PathTeams = "/api/v1/teams"

// Team roles.
const (
	// TeamAdmin manages the team's machines (those with a tag it owns),
	// its tokens (every tag one it owns), route approvals on its machines,
	// and sees their audit.
	TeamAdmin = "admin"
	// TeamMember reads the team's machines and approves their own.
	TeamMember = "member"
)

// Team is a team: the tags it owns, and who administers it and belongs
// to it — people by account name, and everyone in directory groups.
type Team struct {
	Name         string    `json:"name"`
	Tags         []string  `json:"tags"`
	Admins       []string  `json:"admins,omitempty"`
	Members      []string  `json:"members,omitempty"`
	AdminGroups  []string  `json:"admin_groups,omitempty"`
	MemberGroups []string  `json:"member_groups,omitempty"`
	CreatedAt    time.Time `json:"created_at,omitzero"`
}

// PutTeamRequest creates or replaces a team (PathTeams/{name}).
type PutTeamRequest struct {
	Tags         []string `json:"tags"`
	Admins       []string `json:"admins,omitempty"`
	Members      []string `json:"members,omitempty"`
	AdminGroups  []string `json:"admin_groups,omitempty"`
	MemberGroups []string `json:"member_groups,omitempty"`
}
