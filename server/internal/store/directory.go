package store

// The company's directory: people (the admins table's accounts), groups
// and memberships, as an identity provider keeps them here through SCIM
// or the OIDC groups claim. What the access policy needs of it rides on
// the machines: owner_groups, the owner's groups while the owner is
// active, written (with a map version per machine) whenever a membership,
// an owner or a person's state changes — so the hub, every replica's
// poll and the deltas treat a directory change like any machine change.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Deprovision says what happens to the machines of a person the directory
// deactivates or deletes.
type Deprovision string

// Deprovision modes (--deprovision-machines).
const (
	// DeprovisionExpire takes the machines out of every map until an
	// admin or a token re-authenticates them (the default).
	DeprovisionExpire Deprovision = "expire"
	// DeprovisionRevoke revokes them for good.
	DeprovisionRevoke Deprovision = "revoke"
	// DeprovisionKeep leaves them enrolled; they lose the person's
	// directory groups.
	DeprovisionKeep Deprovision = "keep"
)

// ParseDeprovision parses a --deprovision-machines value.
func ParseDeprovision(s string) (Deprovision, error) {
	switch d := Deprovision(s); d {
	case DeprovisionExpire, DeprovisionRevoke, DeprovisionKeep:
		return d, nil
	case "":
		return DeprovisionExpire, nil
	}
	return "", fmt.Errorf("deprovision mode %q: use expire, revoke or keep", s)
}

// PersonInput is a person as the directory provisions them.
type PersonInput struct {
	UserName, DisplayName, ExternalID string
	Active                            bool
}

// PersonChange is what the directory changes of a person; nil fields stay.
type PersonChange struct {
	UserName, DisplayName, ExternalID *string
	Active                            *bool
}

// scimPassword marks an account the directory provisioned: no bcrypt hash,
// so no password matches it; its first single sign-on adopts it.
const scimPassword = "!scim"

const personCols = `id, name, created_at, role, active, display_name, external_id, updated_at, password_hash`

func scanPerson(row interface{ Scan(...any) error }) (Person, error) {
	var (
		p            Person
		created      int64
		active       int
		display, ext sql.NullString
		updated      sql.NullInt64
		pw           string
	)
	if err := row.Scan(&p.ID, &p.Name, &created, &p.Role, &active, &display, &ext, &updated, &pw); err != nil {
		return p, err
	}
	p.CreatedAt, p.Deactivated = fromMS(created), active == 0
	p.DisplayName, p.ExternalID = display.String, ext.String
	p.UpdatedAt = p.CreatedAt
	if updated.Valid {
		p.UpdatedAt = fromMS(updated.Int64)
	}
	// "!scim" and "!sso" are no bcrypt hashes: the directory's accounts.
	p.Local = !strings.HasPrefix(pw, "!")
	return p, nil
}

// Person is a person of the directory with when they last changed.
type Person struct {
	wire.Admin
	UpdatedAt time.Time
	// Local: an account with a password (admin create), not the
	// directory's; SCIM neither lists nor changes it.
	Local bool
}

// CreatePerson provisions a person (a member account without a password,
// adopted by their first single sign-on).
func (db *DB) CreatePerson(ctx context.Context, a Actor, in PersonInput) (Person, error) {
	if err := wire.ValidateUserName(in.UserName); err != nil {
		return Person{}, err
	}
	now := ms(db.Now())
	id := newID("adm_")
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO admins (id, name, password_hash, created_at, role, active, display_name, external_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			id, in.UserName, scimPassword, now, wire.RoleMember, b2i(in.Active), nullStr(in.DisplayName), nullStr(in.ExternalID), now)
		if isUnique(err, "name") {
			return wire.Errorf(wire.CodeConflict, "a person named %q exists already", in.UserName)
		}
		if err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "person.create", id, map[string]any{"name": in.UserName, "active": in.Active, "external_id": in.ExternalID})
	})
	if err != nil {
		return Person{}, wrapErr("provision a person", err)
	}
	return db.Person(ctx, id)
}

// wrapErr keeps wire errors and ErrNotFound as they are and gives others
// context.
func wrapErr(what string, err error) error {
	var we *wire.Error
	if err == nil || errors.As(err, &we) || errors.Is(err, ErrNotFound) {
		return err
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// Person returns a person with their groups, by ID.
func (db *DB) Person(ctx context.Context, id string) (Person, error) {
	out, err := scanPerson(db.r.QueryRowContext(ctx, db.q(`SELECT `+personCols+` FROM admins WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Person{}, ErrNotFound
	}
	if err != nil {
		return Person{}, fmt.Errorf("store: read person: %w", err)
	}
	groups, err := db.groupsOf(ctx, db.r, []string{id})
	if err != nil {
		return Person{}, err
	}
	out.Groups = groups[id]
	return out, nil
}

type rowsQuerier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// groupsOf returns the group names of each of the accounts ids (nil ids:
// every account), sorted.
func (db *DB) groupsOf(ctx context.Context, q rowsQuerier, ids []string) (map[string][]string, error) {
	query := `SELECT m.admin_id, g.name FROM dir_members m JOIN dir_groups g ON g.id = m.group_id`
	var args []any
	if ids != nil {
		query += ` WHERE m.admin_id IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + `)`
		for _, id := range ids {
			args = append(args, id)
		}
	}
	rows, err := q.QueryContext(ctx, db.q(query+` ORDER BY g.name`), args...)
	if err != nil {
		return nil, fmt.Errorf("store: read memberships: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("store: read memberships: %w", err)
		}
		out[id] = append(out[id], name)
	}
	return out, rows.Err()
}

// People returns every account with its groups, by name.
func (db *DB) People(ctx context.Context) ([]Person, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+personCols+` FROM admins ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list people: %w", err)
	}
	defer rows.Close()
	var out []Person
	for rows.Next() {
		p, err := scanPerson(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list people: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list people: %w", err)
	}
	groups, err := db.groupsOf(ctx, db.r, nil)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Groups = groups[out[i].ID]
	}
	return out, nil
}

// ChangePerson applies a directory change to a person. Deactivating them
// ends their sessions and API keys and does to their machines what mode
// says; every change is audited, and the machines whose owner groups move
// come back as map changes.
func (db *DB) ChangePerson(ctx context.Context, a Actor, id string, c PersonChange, mode Deprovision) (Person, []Change, error) {
	if c.UserName != nil {
		if err := wire.ValidateUserName(*c.UserName); err != nil {
			return Person{}, nil, err
		}
	}
	var chs []Change
	err := db.tx(ctx, func(tx *sql.Tx) error {
		p, err := scanPerson(tx.QueryRowContext(ctx, db.q(`SELECT `+personCols+` FROM admins WHERE id = ?`), id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		details := map[string]any{"name": p.Name}
		now := ms(db.Now())
		if c.UserName != nil && *c.UserName != p.Name {
			_, err := tx.ExecContext(ctx, db.q(`UPDATE admins SET name = ? WHERE id = ?`), *c.UserName, id)
			if isUnique(err, "name") {
				return wire.Errorf(wire.CodeConflict, "a person named %q exists already", *c.UserName)
			}
			if err != nil {
				return err
			}
			// The machines follow their owner's new name.
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE machines SET owner = ? WHERE owner = ?`), *c.UserName, p.Name); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE enroll_tokens SET owner = ? WHERE owner = ?`), *c.UserName, p.Name); err != nil {
				return err
			}
			details["old_name"], details["name"] = p.Name, *c.UserName
		}
		if c.DisplayName != nil {
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE admins SET display_name = ? WHERE id = ?`), nullStr(*c.DisplayName), id); err != nil {
				return err
			}
		}
		if c.ExternalID != nil {
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE admins SET external_id = ? WHERE id = ?`), nullStr(*c.ExternalID), id); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE admins SET updated_at = ? WHERE id = ?`), now, id); err != nil {
			return err
		}
		action := "person.update"
		if c.Active != nil && *c.Active == p.Deactivated {
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE admins SET active = ? WHERE id = ?`), b2i(*c.Active), id); err != nil {
				return err
			}
			if *c.Active {
				action = "person.activate"
			} else {
				action = "person.deactivate"
				name := p.Name
				if c.UserName != nil {
					name = *c.UserName
				}
				ended, err := db.deprovision(ctx, tx, id, name, mode, &chs)
				if err != nil {
					return err
				}
				for k, v := range ended {
					details[k] = v
				}
			}
		}
		more, err := db.refreshOwnerGroups(ctx, tx, []string{id})
		if err != nil {
			return err
		}
		chs = append(chs, more...)
		return db.audit(ctx, tx, a, action, id, details)
	})
	if err != nil {
		return Person{}, nil, wrapErr("change a person", err)
	}
	p, err := db.Person(ctx, id)
	return p, chs, err
}

// deprovision ends what an account holds (sessions, API keys) and does
// mode to the machines it owns, inside tx; it returns what it did, for the
// audit event.
func (db *DB) deprovision(ctx context.Context, tx *sql.Tx, id, name string, mode Deprovision, chs *[]Change) (map[string]any, error) {
	now := ms(db.Now())
	res, err := tx.ExecContext(ctx, db.q(`DELETE FROM sessions WHERE admin_id = ?`), id)
	if err != nil {
		return nil, err
	}
	sessions, _ := res.RowsAffected()
	res, err = tx.ExecContext(ctx, db.q(`UPDATE api_keys SET revoked_at = ? WHERE admin_id = ? AND revoked_at IS NULL`), now, id)
	if err != nil {
		return nil, err
	}
	keys, _ := res.RowsAffected()
	out := map[string]any{"sessions_ended": sessions, "api_keys_revoked": keys, "machines_mode": string(mode)}
	if mode == DeprovisionKeep {
		return out, nil
	}
	ids, names, err := db.ownedMachines(ctx, tx, name, `state = '`+wire.MachineActive+`'`)
	if err != nil {
		return nil, err
	}
	for _, mid := range ids {
		v, err := db.bumpVersion(ctx, tx, mid)
		if err != nil {
			return nil, err
		}
		if mode == DeprovisionRevoke {
			_, err = tx.ExecContext(ctx, db.q(`UPDATE machines SET state = ?, revoked_at = COALESCE(revoked_at, ?), version = ? WHERE id = ?`), wire.MachineRevoked, now, v, mid)
		} else {
			_, err = tx.ExecContext(ctx, db.q(`UPDATE machines SET state = ?, expires_at = ?, expiry_disabled = 0, version = ? WHERE id = ?`), wire.MachineExpired, now, v, mid)
		}
		if err != nil {
			return nil, err
		}
		*chs = append(*chs, Change{Version: v, MachineID: mid})
	}
	out["machines"] = names
	return out, nil
}

// ownedMachines lists the IDs and names of the machines owner owns that
// match cond (SQL over machines' columns).
func (db *DB) ownedMachines(ctx context.Context, tx *sql.Tx, owner, cond string) ([]string, []string, error) {
	rows, err := tx.QueryContext(ctx, db.q(`SELECT id, name FROM machines WHERE owner = ? AND `+cond+` ORDER BY name`), owner)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var ids, names []string
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, nil, err
		}
		ids, names = append(ids, id), append(names, name)
	}
	return ids, names, rows.Err()
}

// refreshOwnerGroups writes, on every machine (not revoked) of the given
// accounts, the account's groups while it is active (none while not),
// bumping the map version of each machine whose groups moved.
func (db *DB) refreshOwnerGroups(ctx context.Context, tx *sql.Tx, ids []string) ([]Change, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	groups, err := db.groupsOf(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	var chs []Change
	for _, id := range ids {
		var name string
		var active int
		err := tx.QueryRowContext(ctx, db.q(`SELECT name, active FROM admins WHERE id = ?`), id).Scan(&name, &active)
		if errors.Is(err, sql.ErrNoRows) {
			continue // deleted: DeletePerson cleared its machines
		}
		if err != nil {
			return nil, err
		}
		want := groups[id]
		if active == 0 {
			want = nil
		}
		more, err := db.setOwnerGroups(ctx, tx, name, want)
		if err != nil {
			return nil, err
		}
		chs = append(chs, more...)
	}
	return chs, nil
}

// setOwnerGroups writes groups on owner's machines that do not have them
// yet, a map version each.
func (db *DB) setOwnerGroups(ctx context.Context, tx *sql.Tx, owner string, groups []string) ([]Change, error) {
	enc := ownerGroupsCol(groups)
	rows, err := tx.QueryContext(ctx, db.q(`SELECT id, owner_groups FROM machines WHERE owner = ? AND state != ?`), owner, wire.MachineRevoked)
	if err != nil {
		return nil, err
	}
	var stale []string
	for rows.Next() {
		var id string
		var cur sql.NullString
		if err := rows.Scan(&id, &cur); err != nil {
			rows.Close()
			return nil, err
		}
		if cur != enc {
			stale = append(stale, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var chs []Change
	for _, id := range stale {
		v, err := db.bumpVersion(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE machines SET owner_groups = ?, version = ? WHERE id = ?`), enc, v, id); err != nil {
			return nil, err
		}
		chs = append(chs, Change{Version: v, MachineID: id})
	}
	return chs, nil
}

// ownerGroupsCol encodes a machine's owner groups (NULL: none).
func ownerGroupsCol(groups []string) sql.NullString {
	if len(groups) == 0 {
		return sql.NullString{}
	}
	g := slices.Clone(groups)
	sort.Strings(g)
	return sql.NullString{String: jsonList(g), Valid: true}
}

// ownerGroupsFor returns the groups a machine of owner gets now (none for
// no owner, an unknown or an inactive one).
func (db *DB) ownerGroupsFor(ctx context.Context, tx *sql.Tx, owner string) (sql.NullString, error) {
	if owner == "" {
		return sql.NullString{}, nil
	}
	rows, err := tx.QueryContext(ctx, db.q(`SELECT g.name FROM admins a JOIN dir_members m ON m.admin_id = a.id JOIN dir_groups g ON g.id = m.group_id WHERE a.name = ? AND a.active = 1`), owner)
	if err != nil {
		return sql.NullString{}, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return sql.NullString{}, err
		}
		names = append(names, n)
	}
	return ownerGroupsCol(names), rows.Err()
}

// DeletePerson removes a person from the directory: what deactivation
// does (sessions, keys, machines by mode), then the account and its
// memberships. Their machines kept (mode keep) lose their groups.
func (db *DB) DeletePerson(ctx context.Context, a Actor, id string, mode Deprovision) ([]Change, error) {
	var chs []Change
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var name string
		err := tx.QueryRowContext(ctx, db.q(`SELECT name FROM admins WHERE id = ?`), id).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		details, err := db.deprovision(ctx, tx, id, name, mode, &chs)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM admins WHERE id = ?`), id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM team_roles WHERE kind = 'person' AND subject = ?`), id); err != nil {
			return err
		}
		more, err := db.setOwnerGroups(ctx, tx, name, nil)
		if err != nil {
			return err
		}
		chs = append(chs, more...)
		details["name"] = name
		return db.audit(ctx, tx, a, "person.delete", id, details)
	})
	if err != nil {
		return nil, wrapErr("delete a person", err)
	}
	return chs, nil
}

// Group is a directory group with its members' account IDs.
type Group struct {
	wire.DirectoryGroup
	MemberIDs []string
}

// GroupInput is a group as the directory provisions it; Members are
// account IDs.
type GroupInput struct {
	Name, ExternalID string
	Members          []string
}

// GroupChange is what the directory changes of a group: Set replaces the
// members, Add and Remove edit them (account IDs); nil fields stay.
type GroupChange struct {
	Name, ExternalID *string
	Set              *[]string
	Add, Remove      []string
}

// CreateGroup provisions a group with its members.
func (db *DB) CreateGroup(ctx context.Context, a Actor, in GroupInput) (Group, []Change, error) {
	if err := wire.ValidateDirectoryName(in.Name); err != nil {
		return Group{}, nil, err
	}
	id := newID("grp_")
	var chs []Change
	err := db.tx(ctx, func(tx *sql.Tx) error {
		now := ms(db.Now())
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO dir_groups (id, name, external_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`), id, in.Name, nullStr(in.ExternalID), now, now)
		if isUnique(err, "name") {
			return wire.Errorf(wire.CodeConflict, "a directory group named %q exists already", in.Name)
		}
		if err != nil {
			return err
		}
		added, err := db.addMembers(ctx, tx, id, in.Members)
		if err != nil {
			return err
		}
		if chs, err = db.refreshOwnerGroups(ctx, tx, added); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "group.create", id, map[string]any{"name": in.Name, "members": len(added)})
	})
	if err != nil {
		return Group{}, nil, wrapErr("provision a group", err)
	}
	g, err := db.Group(ctx, id)
	return g, chs, err
}

// addMembers adds accounts to a group (those already in it are left) and
// returns those it added; an unknown account is an error.
func (db *DB) addMembers(ctx context.Context, tx *sql.Tx, groupID string, ids []string) ([]string, error) {
	var added []string
	for _, id := range ids {
		var n int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM admins WHERE id = ?`), id).Scan(&n); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, wire.Errorf(wire.CodeInvalidArgument, "no person has the ID %q", id)
		}
		res, err := tx.ExecContext(ctx, db.q(`INSERT INTO dir_members (group_id, admin_id) VALUES (?, ?) ON CONFLICT DO NOTHING`), groupID, id)
		if err != nil {
			return nil, err
		}
		if k, _ := res.RowsAffected(); k > 0 {
			added = append(added, id)
		}
	}
	return added, nil
}

// Group returns a directory group by ID.
func (db *DB) Group(ctx context.Context, id string) (Group, error) {
	gs, err := db.groups(ctx, db.q(`WHERE g.id = ?`), id)
	if err != nil {
		return Group{}, err
	}
	if len(gs) == 0 {
		return Group{}, ErrNotFound
	}
	return gs[0], nil
}

// Groups returns every directory group, by name.
func (db *DB) Groups(ctx context.Context) ([]Group, error) { return db.groups(ctx, "") }

func (db *DB) groups(ctx context.Context, where string, args ...any) ([]Group, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT g.id, g.name, g.external_id, g.created_at, g.updated_at, a.id, a.name
		FROM dir_groups g LEFT JOIN dir_members m ON m.group_id = g.id LEFT JOIN admins a ON a.id = m.admin_id `+where+` ORDER BY g.name, g.id, a.name`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list groups: %w", err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		var (
			g                Group
			ext, mid, mname  sql.NullString
			created, updated int64
		)
		if err := rows.Scan(&g.ID, &g.Name, &ext, &created, &updated, &mid, &mname); err != nil {
			return nil, fmt.Errorf("store: list groups: %w", err)
		}
		if n := len(out); n == 0 || out[n-1].ID != g.ID {
			g.ExternalID, g.CreatedAt, g.UpdatedAt = ext.String, fromMS(created), fromMS(updated)
			g.Members = []string{}
			out = append(out, g)
		}
		if mid.Valid {
			last := &out[len(out)-1]
			last.Members = append(last.Members, mname.String)
			last.MemberIDs = append(last.MemberIDs, mid.String)
		}
	}
	return out, rows.Err()
}

// ChangeGroup applies a directory change to a group; the machines of the
// people who joined or left it come back as map changes.
func (db *DB) ChangeGroup(ctx context.Context, a Actor, id string, c GroupChange) (Group, []Change, error) {
	if c.Name != nil {
		if err := wire.ValidateDirectoryName(*c.Name); err != nil {
			return Group{}, nil, err
		}
	}
	var chs []Change
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var name string
		err := tx.QueryRowContext(ctx, db.q(`SELECT name FROM dir_groups WHERE id = ?`), id).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		details := map[string]any{"name": name}
		var touched []string
		if c.Name != nil && *c.Name != name {
			_, err := tx.ExecContext(ctx, db.q(`UPDATE dir_groups SET name = ? WHERE id = ?`), *c.Name, id)
			if isUnique(err, "name") {
				return wire.Errorf(wire.CodeConflict, "a directory group named %q exists already", *c.Name)
			}
			if err != nil {
				return err
			}
			details["old_name"], details["name"] = name, *c.Name
			// Every member's machines carry the group's name.
			members, err := db.memberIDs(ctx, tx, id)
			if err != nil {
				return err
			}
			touched = append(touched, members...)
		}
		if c.ExternalID != nil {
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE dir_groups SET external_id = ? WHERE id = ?`), nullStr(*c.ExternalID), id); err != nil {
				return err
			}
		}
		remove := c.Remove
		add := c.Add
		if c.Set != nil {
			cur, err := db.memberIDs(ctx, tx, id)
			if err != nil {
				return err
			}
			for _, m := range cur {
				if !slices.Contains(*c.Set, m) {
					remove = append(remove, m)
				}
			}
			add = append(add, *c.Set...)
		}
		var removed []string
		for _, m := range remove {
			res, err := tx.ExecContext(ctx, db.q(`DELETE FROM dir_members WHERE group_id = ? AND admin_id = ?`), id, m)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k > 0 {
				removed = append(removed, m)
			}
		}
		added, err := db.addMembers(ctx, tx, id, add)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE dir_groups SET updated_at = ? WHERE id = ?`), ms(db.Now()), id); err != nil {
			return err
		}
		touched = append(append(touched, added...), removed...)
		slices.Sort(touched)
		if chs, err = db.refreshOwnerGroups(ctx, tx, slices.Compact(touched)); err != nil {
			return err
		}
		if len(added) > 0 {
			details["added"] = db.namesOf(ctx, tx, added)
		}
		if len(removed) > 0 {
			details["removed"] = db.namesOf(ctx, tx, removed)
		}
		return db.audit(ctx, tx, a, "group.update", id, details)
	})
	if err != nil {
		return Group{}, nil, wrapErr("change a group", err)
	}
	g, err := db.Group(ctx, id)
	return g, chs, err
}

// namesOf returns the account names of ids (for audit details; the IDs
// themselves where a name cannot be read).
func (db *DB) namesOf(ctx context.Context, tx *sql.Tx, ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		var n string
		if tx.QueryRowContext(ctx, db.q(`SELECT name FROM admins WHERE id = ?`), id).Scan(&n) != nil {
			n = id
		}
		out = append(out, n)
	}
	return out
}

func (db *DB) memberIDs(ctx context.Context, tx *sql.Tx, groupID string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, db.q(`SELECT admin_id FROM dir_members WHERE group_id = ? ORDER BY admin_id`), groupID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// DeleteGroup removes a directory group; its members' machines lose it.
func (db *DB) DeleteGroup(ctx context.Context, a Actor, id string) ([]Change, error) {
	var chs []Change
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var name string
		err := tx.QueryRowContext(ctx, db.q(`SELECT name FROM dir_groups WHERE id = ?`), id).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		members, err := db.memberIDs(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM dir_members WHERE group_id = ?`), id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM dir_groups WHERE id = ?`), id); err != nil {
			return err
		}
		if chs, err = db.refreshOwnerGroups(ctx, tx, members); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "group.delete", id, map[string]any{"name": name, "members": len(members)})
	})
	if err != nil {
		return nil, wrapErr("delete a group", err)
	}
	return chs, nil
}

// SyncGroupNames makes the account's groups exactly names (the OIDC groups
// claim at a sign-in), creating the groups it does not know; it returns
// the map changes of the account's machines.
func (db *DB) SyncGroupNames(ctx context.Context, a Actor, id string, names []string) ([]Change, error) {
	want := map[string]bool{}
	for _, n := range names {
		if wire.ValidateDirectoryName(n) == nil {
			want[n] = true
		}
	}
	var chs []Change
	err := db.tx(ctx, func(tx *sql.Tx) error {
		cur := map[string]string{} // name → group ID
		rows, err := tx.QueryContext(ctx, db.q(`SELECT g.id, g.name FROM dir_members m JOIN dir_groups g ON g.id = m.group_id WHERE m.admin_id = ?`), id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var gid, n string
			if err := rows.Scan(&gid, &n); err != nil {
				rows.Close()
				return err
			}
			cur[n] = gid
		}
		rows.Close()
		var added, removed []string
		for n, gid := range cur {
			if !want[n] {
				if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM dir_members WHERE group_id = ? AND admin_id = ?`), gid, id); err != nil {
					return err
				}
				removed = append(removed, n)
			}
		}
		now := ms(db.Now())
		for n := range want {
			if _, ok := cur[n]; ok {
				continue
			}
			var gid string
			err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM dir_groups WHERE name = ?`), n).Scan(&gid)
			if errors.Is(err, sql.ErrNoRows) {
				gid = newID("grp_")
				if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO dir_groups (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)`), gid, n, now, now); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO dir_members (group_id, admin_id) VALUES (?, ?)`), gid, id); err != nil {
				return err
			}
			added = append(added, n)
		}
		if len(added)+len(removed) == 0 {
			return nil
		}
		sort.Strings(added)
		sort.Strings(removed)
		if chs, err = db.refreshOwnerGroups(ctx, tx, []string{id}); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "person.groups", id, map[string]any{"added": added, "removed": removed, "source": "oidc"})
	})
	if err != nil {
		return nil, wrapErr("sync groups", err)
	}
	return chs, nil
}

// CreateSCIMToken stores a SCIM bearer token's hash.
func (db *DB) CreateSCIMToken(ctx context.Context, a Actor, prefix, hash string) (wire.SCIMToken, error) {
	t := wire.SCIMToken{ID: newID("scim_"), Prefix: prefix, CreatedBy: a.Name, CreatedAt: fromMS(ms(db.Now()))}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO scim_tokens (id, prefix, hash, created_by, created_at) VALUES (?, ?, ?, ?, ?)`), t.ID, prefix, hash, a.Name, ms(t.CreatedAt)); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "scim_token.create", t.ID, map[string]any{"prefix": prefix})
	})
	if err != nil {
		return t, fmt.Errorf("store: create SCIM token: %w", err)
	}
	return t, nil
}

// SCIMTokens lists the SCIM tokens, newest first.
func (db *DB) SCIMTokens(ctx context.Context) ([]wire.SCIMToken, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, prefix, created_by, created_at, last_used_at, revoked_at FROM scim_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list SCIM tokens: %w", err)
	}
	defer rows.Close()
	out := []wire.SCIMToken{}
	for rows.Next() {
		var t wire.SCIMToken
		var c int64
		var used, rev sql.NullInt64
		if err := rows.Scan(&t.ID, &t.Prefix, &t.CreatedBy, &c, &used, &rev); err != nil {
			return nil, fmt.Errorf("store: list SCIM tokens: %w", err)
		}
		t.CreatedAt, t.LastUsedAt, t.RevokedAt = fromMS(c), fromNullMS(used), fromNullMS(rev)
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeSCIMToken revokes a SCIM token by ID or prefix.
func (db *DB) RevokeSCIMToken(ctx context.Context, a Actor, idOrPrefix string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM scim_tokens WHERE id = ? OR prefix = ?`), idOrPrefix, idOrPrefix).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE scim_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`), ms(db.Now()), id); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "scim_token.revoke", id, nil)
	})
	return wrapErr("revoke SCIM token", err)
}

// SCIMTokenByHash returns the live SCIM token with the given hash (and
// notes its use, at most once a minute).
func (db *DB) SCIMTokenByHash(ctx context.Context, hash string) (wire.SCIMToken, error) {
	var t wire.SCIMToken
	var c int64
	var used, rev sql.NullInt64
	err := db.r.QueryRowContext(ctx, db.q(`SELECT id, prefix, created_by, created_at, last_used_at, revoked_at FROM scim_tokens WHERE hash = ?`), hash).
		Scan(&t.ID, &t.Prefix, &t.CreatedBy, &c, &used, &rev)
	if errors.Is(err, sql.ErrNoRows) || err == nil && rev.Valid {
		return t, ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("store: look up SCIM token: %w", err)
	}
	t.CreatedAt, t.LastUsedAt = fromMS(c), fromNullMS(used)
	now := db.Now()
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > time.Minute {
		if _, err := db.w.ExecContext(ctx, db.q(`UPDATE scim_tokens SET last_used_at = ? WHERE id = ?`), ms(now), t.ID); err != nil {
			return t, fmt.Errorf("store: note SCIM token use: %w", err)
		}
	}
	return t, nil
}
