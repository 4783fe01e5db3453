package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Scope is what an actor may administer when it is not an owner (an
// admin): the tags of the teams it administers and of those it belongs
// to. A nil *Scope is an owner's: everything.
type Scope struct {
	Person string // the account's name
	// AdminTags are the tags of the teams the person administers;
	// MemberTags those of the teams they belong to (and administer).
	AdminTags, MemberTags map[string]bool
	// Teams are the names of the person's teams, by role.
	AdminTeams, MemberTeams []string
}

// Manages reports whether the scope administers a machine or token with
// these tags: one of them is a tag of a team it administers. A nil scope
// manages everything.
func (sc *Scope) Manages(tags []string) bool {
	if sc == nil {
		return true
	}
	return slices.ContainsFunc(tags, func(t string) bool { return sc.AdminTags[t] })
}

// ManagesAll reports whether every one of tags (at least one) is a tag
// of a team the scope administers: what a token a team admin makes or
// revokes must carry, so that it enrolls nothing outside the team.
func (sc *Scope) ManagesAll(tags []string) bool {
	if sc == nil {
		return true
	}
	return len(tags) > 0 && !slices.ContainsFunc(tags, func(t string) bool { return !sc.AdminTags[t] })
}

// Sees reports whether the scope may read a machine with these tags and
// owner: one of its teams owns a tag, or it is the person's own.
func (sc *Scope) Sees(tags []string, owner string) bool {
	if sc == nil {
		return true
	}
	return owner != "" && owner == sc.Person || slices.ContainsFunc(tags, func(t string) bool { return sc.MemberTags[t] || sc.AdminTags[t] })
}

// Administers reports whether the scope administers at least one team.
func (sc *Scope) Administers() bool { return sc == nil || len(sc.AdminTeams) > 0 }

// ScopeOf returns what the account may administer: nil for an admin (an
// owner), else its teams' tags, directly or through its directory groups.
func (db *DB) ScopeOf(ctx context.Context, adminID string) (*Scope, error) {
	var name, role string
	err := db.r.QueryRowContext(ctx, db.q(`SELECT name, role FROM admins WHERE id = ?`), adminID).Scan(&name, &role)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: read scope: %w", err)
	}
	if role == wire.RoleAdmin {
		return nil, nil
	}
	sc := &Scope{Person: name, AdminTags: map[string]bool{}, MemberTags: map[string]bool{}}
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT t.name, r.role, tt.tag FROM team_roles r JOIN teams t ON t.id = r.team_id LEFT JOIN team_tags tt ON tt.team_id = t.id
		WHERE (r.kind = 'person' AND r.subject = ?)
		   OR (r.kind = 'group' AND r.subject IN (SELECT g.name FROM dir_members m JOIN dir_groups g ON g.id = m.group_id WHERE m.admin_id = ?))`), adminID, adminID)
	if err != nil {
		return nil, fmt.Errorf("store: read scope: %w", err)
	}
	defer rows.Close()
	admin, member := map[string]bool{}, map[string]bool{}
	for rows.Next() {
		var team, r string
		var tag sql.NullString
		if err := rows.Scan(&team, &r, &tag); err != nil {
			return nil, fmt.Errorf("store: read scope: %w", err)
		}
		if r == wire.TeamAdmin {
			admin[team] = true
			if tag.Valid {
				sc.AdminTags[tag.String] = true
			}
		} else {
			member[team] = true
		}
		if tag.Valid {
			sc.MemberTags[tag.String] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read scope: %w", err)
	}
	for t := range admin {
		sc.AdminTeams = append(sc.AdminTeams, t)
	}
	for t := range member {
		if !admin[t] {
			sc.MemberTeams = append(sc.MemberTeams, t)
		}
	}
	sort.Strings(sc.AdminTeams)
	sort.Strings(sc.MemberTeams)
	return sc, nil
}

// PutTeam creates or replaces a team. Admins and Members name accounts
// (which must exist); the groups are directory group names (which may be
// provisioned later).
func (db *DB) PutTeam(ctx context.Context, a Actor, name string, req wire.PutTeamRequest) (wire.Team, error) {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM teams WHERE name = ?`), name).Scan(&id)
		action := "team.update"
		if errors.Is(err, sql.ErrNoRows) {
			id, action = newID("team_"), "team.create"
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO teams (id, name, created_at) VALUES (?, ?, ?)`), id, name, ms(db.Now())); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM team_tags WHERE team_id = ?`, `DELETE FROM team_roles WHERE team_id = ?`} {
			if _, err := tx.ExecContext(ctx, db.q(q), id); err != nil {
				return err
			}
		}
		for _, t := range req.Tags {
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO team_tags (team_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING`), id, t); err != nil {
				return err
			}
		}
		for _, p := range []struct {
			names []string
			role  string
		}{{req.Admins, wire.TeamAdmin}, {req.Members, wire.TeamMember}} {
			for _, n := range p.names {
				var pid string
				err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM admins WHERE name = ?`), n).Scan(&pid)
				if errors.Is(err, sql.ErrNoRows) {
					return wire.Errorf(wire.CodeInvalidArgument, "no person is named %q (see `wirefleet-server directory people`)", n)
				}
				if err != nil {
					return err
				}
				// An admin listed as a member too stays an admin.
				if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO team_roles (team_id, kind, subject, role) VALUES (?, 'person', ?, ?) ON CONFLICT DO NOTHING`), id, pid, p.role); err != nil {
					return err
				}
			}
		}
		for _, p := range []struct {
			names []string
			role  string
		}{{req.AdminGroups, wire.TeamAdmin}, {req.MemberGroups, wire.TeamMember}} {
			for _, g := range p.names {
				if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO team_roles (team_id, kind, subject, role) VALUES (?, 'group', ?, ?) ON CONFLICT DO NOTHING`), id, g, p.role); err != nil {
					return err
				}
			}
		}
		// Which machines receive the team's flags may have changed.
		if _, err := db.bumpFlags(ctx, tx); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, action, id, map[string]any{"name": name, "tags": req.Tags, "admins": req.Admins, "members": req.Members,
			"admin_groups": req.AdminGroups, "member_groups": req.MemberGroups})
	})
	if err != nil {
		return wire.Team{}, wrapErr("put a team", err)
	}
	ts, err := db.Teams(ctx)
	if err != nil {
		return wire.Team{}, err
	}
	for _, t := range ts {
		if t.Name == name {
			return t, nil
		}
	}
	return wire.Team{}, ErrNotFound
}

// Teams returns every team, by name.
func (db *DB) Teams(ctx context.Context) ([]wire.Team, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, name, created_at FROM teams ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list teams: %w", err)
	}
	var out []wire.Team
	ids := map[string]int{}
	for rows.Next() {
		var id string
		var t wire.Team
		var c int64
		if err := rows.Scan(&id, &t.Name, &c); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: list teams: %w", err)
		}
		t.CreatedAt, t.Tags = fromMS(c), []string{}
		ids[id] = len(out)
		out = append(out, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list teams: %w", err)
	}
	rows, err = db.r.QueryContext(ctx, `SELECT team_id, tag FROM team_tags ORDER BY tag`)
	if err != nil {
		return nil, fmt.Errorf("store: list teams: %w", err)
	}
	for rows.Next() {
		var id, tag string
		if err := rows.Scan(&id, &tag); err != nil {
			rows.Close()
			return nil, err
		}
		if i, ok := ids[id]; ok {
			out[i].Tags = append(out[i].Tags, tag)
		}
	}
	rows.Close()
	rows, err = db.r.QueryContext(ctx, `SELECT r.team_id, r.kind, r.role, COALESCE(a.name, r.subject) FROM team_roles r LEFT JOIN admins a ON r.kind = 'person' AND a.id = r.subject ORDER BY 4`)
	if err != nil {
		return nil, fmt.Errorf("store: list teams: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, kind, role, subject string
		if err := rows.Scan(&id, &kind, &role, &subject); err != nil {
			return nil, err
		}
		i, ok := ids[id]
		if !ok {
			continue
		}
		t := &out[i]
		switch {
		case kind == "person" && role == wire.TeamAdmin:
			t.Admins = append(t.Admins, subject)
		case kind == "person":
			t.Members = append(t.Members, subject)
		case role == wire.TeamAdmin:
			t.AdminGroups = append(t.AdminGroups, subject)
		default:
			t.MemberGroups = append(t.MemberGroups, subject)
		}
	}
	return out, rows.Err()
}

// DeleteTeam removes a team (its roles and tags with it; machines keep
// their tags).
func (db *DB) DeleteTeam(ctx context.Context, a Actor, name string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM teams WHERE name = ?`), name).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM team_tags WHERE team_id = ?`, `DELETE FROM team_roles WHERE team_id = ?`, `DELETE FROM teams WHERE id = ?`} {
			if _, err := tx.ExecContext(ctx, db.q(q), id); err != nil {
				return err
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM flags WHERE team = ?`), name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return wire.Errorf(wire.CodeConflict, "team %s has %d flags: delete them or give them to another team first", name, n)
		}
		if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM flag_clients WHERE team = ?`), name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return wire.Errorf(wire.CodeConflict, "team %s has %d flag clients: delete them or give them to another team first", name, n)
		}
		if _, err := db.bumpFlags(ctx, tx); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "team.delete", id, map[string]any{"name": name})
	})
	return wrapErr("delete a team", err)
}

// TeamTags returns each team's tags (what decides which machines receive
// a team's flags).
func (db *DB) TeamTags(ctx context.Context) (map[string][]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT t.name, tt.tag FROM teams t JOIN team_tags tt ON tt.team_id = t.id`)
	if err != nil {
		return nil, fmt.Errorf("store: read team tags: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var n, tag string
		if err := rows.Scan(&n, &tag); err != nil {
			return nil, fmt.Errorf("store: read team tags: %w", err)
		}
		out[n] = append(out[n], tag)
	}
	return out, rows.Err()
}
