package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Enrollment is a validated enrollment request. TokenHash and CredentialHash
// are SHA-256 hashes; the store never sees secrets.
type Enrollment struct {
	TokenHash      string
	CredentialHash string
	PublicKey      string
	Hostname       string
	Name           string // requested or derived from the hostname; made unique here
	OS, OSVersion  string
	Arch           string
	AgentVersion   string
	Endpoints      []string
	// Lifetime is the server's --machine-expiry (0: machines never
	// expire); the token's own lifetime, when it has one, wins.
	Lifetime time.Duration
	// PendingCode, instead of TokenHash, enrolls an approved interactive
	// request (once); Owner is who approved it.
	PendingCode string
	Owner       string
}

// Change is what a mutation did to the network map: the new version and the
// machine that changed. The netmap hub is told about it after commit.
type Change struct {
	Version   uint64
	MachineID string
}

const machineCols = `id, name, hostname, os, os_version, arch, agent_version, public_key, ipv4, ipv6, tags, endpoints, ephemeral, state, created_at, last_seen, revoked_at, health, update_status, pinned_version, key_created_at, rotate_key_before, expires_at, expiry_disabled, owner, routes, facts, facts_at, seen_within, owner_groups`

func scanMachine(row interface{ Scan(...any) error }) (wire.Machine, error) {
	var (
		m                   wire.Machine
		tags, eps           string
		ephemeral           int
		created             int64
		lastSeen, revokedAt sql.NullInt64
		keyAt, rotate       sql.NullInt64
		expires             sql.NullInt64
		expiryOff           int
		health, update      sql.NullString
		owner, routes       sql.NullString
		facts, seenWithin   sql.NullString
		ownerGroups         sql.NullString
		factsAt             sql.NullInt64
	)
	err := row.Scan(&m.ID, &m.Name, &m.Hostname, &m.OS, &m.OSVersion, &m.Arch, &m.AgentVersion, &m.PublicKey,
		&m.IPv4, &m.IPv6, &tags, &eps, &ephemeral, &m.State, &created, &lastSeen, &revokedAt, &health, &update, &m.PinnedVersion, &keyAt, &rotate, &expires, &expiryOff, &owner, &routes, &facts, &factsAt, &seenWithin, &ownerGroups)
	if err != nil {
		return m, err
	}
	if seenWithin.Valid && seenWithin.String != "" {
		m.SeenWithin = parseList(seenWithin.String)
	}
	if update.Valid {
		var u wire.UpdateStatus
		if json.Unmarshal([]byte(update.String), &u) == nil {
			m.LastUpdate = &u
		}
	}
	if health.Valid {
		var r wire.HealthReport
		if json.Unmarshal([]byte(health.String), &r) == nil {
			m.Health = &r
		}
	}
	m.Tags, m.Endpoints = parseList(tags), parseList(eps)
	m.Ephemeral = ephemeral != 0
	m.CreatedAt = fromMS(created)
	m.LastSeen, m.RevokedAt = fromNullMS(lastSeen), fromNullMS(revokedAt)
	m.KeyCreatedAt, m.RotateKeyBefore = fromNullMS(keyAt), fromNullMS(rotate)
	m.ExpiresAt, m.ExpiryDisabled = fromNullMS(expires), expiryOff != 0
	m.Owner = owner.String
	if ownerGroups.Valid {
		m.OwnerGroups = parseList(ownerGroups.String)
	}
	if facts.Valid {
		var f wire.Facts
		if json.Unmarshal([]byte(facts.String), &f) == nil {
			m.Facts, m.FactsAt = &f, fromNullMS(factsAt)
		}
	}
	if routes.Valid {
		var mr wire.MachineRoutes
		if json.Unmarshal([]byte(routes.String), &mr) == nil && len(mr.Advertised)+len(mr.Approved)+len(mr.Rejected) > 0 || mr.Failing != "" {
			m.Routes = &mr
		}
	}
	if m.KeyCreatedAt == nil { // enrolled before keys were dated
		m.KeyCreatedAt = &m.CreatedAt
	}
	if m.RotateKeyBefore != nil && !m.KeyCreatedAt.Before(*m.RotateKeyBefore) {
		m.RotateKeyBefore = nil // done
	}
	return m, nil
}

// maxIPIndex is the number of host addresses handed out from 100.64.0.0/10.
const maxIPIndex = 1<<22 - 2

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// OverlayPrefix4 is the IPv4 overlay prefix (RFC 6598 shared address space,
// as Tailscale and headscale use).
func OverlayPrefix4() netip.Prefix { return cgnat }

// addrsFor maps an allocation index to the machine's two overlay addresses.
// Addresses are never reused after a machine is deleted, so a stale peer
// entry somewhere can never route to a different machine.
func addrsFor(idx uint32, ula netip.Prefix) (netip.Addr, netip.Addr) {
	base := cgnat.Addr().As4()
	n := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	n += idx
	v4 := netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	u := ula.Addr().As16()
	u[12], u[13], u[14], u[15] = byte(idx>>24), byte(idx>>16), byte(idx>>8), byte(idx)
	return v4, netip.AddrFrom16(u)
}

// Enroll consumes one use of the token and registers the machine, all in
// one transaction: token use, name, addresses, credential hash, map version
// and audit event are committed together or not at all.
func (db *DB) Enroll(ctx context.Context, a Actor, e Enrollment) (wire.Machine, Change, error) {
	// On PostgreSQL two replicas can pick the same free name at once; the
	// unique index refuses the second, which then picks again.
	for attempt := 0; ; attempt++ {
		m, ch, err := db.enroll(ctx, a, e)
		if attempt < 5 && isUnique(err, "name") {
			continue
		}
		return m, ch, err
	}
}

func (db *DB) enroll(ctx context.Context, a Actor, e Enrollment) (wire.Machine, Change, error) {
	ula, err := db.ULA(ctx)
	if err != nil {
		return wire.Machine{}, Change{}, err
	}
	id := newID("m_")
	var ch Change
	err = db.tx(ctx, func(tx *sql.Tx) error {
		var tok wire.Token
		if e.PendingCode != "" {
			res, err := tx.ExecContext(ctx, db.q(`UPDATE pending_enrollments SET state = ?, machine_id = ? WHERE code = ? AND state = ?`),
				PendingEnrolled, id, e.PendingCode, PendingApproved)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return wire.Errorf(wire.CodeConflict, "enrollment request %s is not approved, or was used already", e.PendingCode)
			}
		} else if tok, err = db.consumeToken(ctx, tx, e.TokenHash); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM machines WHERE public_key = ?`), e.PublicKey).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return wire.Errorf(wire.CodePublicKeyInUse, "this WireGuard public key is already registered to another machine")
		}
		name, err := db.uniqueName(ctx, tx, e.Name)
		if err != nil {
			return err
		}
		var next string
		if err := tx.QueryRowContext(ctx, db.q(`UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = ? RETURNING value`), metaNextIP).Scan(&next); err != nil {
			return fmt.Errorf("allocate address: %w", err)
		}
		idx, _ := strconv.ParseUint(next, 10, 32)
		idx-- // RETURNING gives the incremented value
		if idx < 1 || idx > maxIPIndex {
			return wire.Errorf(wire.CodeAddressPool, "the overlay address pool is exhausted")
		}
		v4, v6 := addrsFor(uint32(idx), ula)
		now := ms(db.Now())
		owner := e.Owner
		if owner == "" {
			owner = tok.Owner
		}
		groups, err := db.ownerGroupsFor(ctx, tx, owner)
		if err != nil {
			return err
		}
		ch.Version, err = db.bumpVersion(ctx, tx, id)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, db.q(`INSERT INTO machines (id, name, hostname, os, os_version, arch, agent_version, public_key, ip_index, ipv4, ipv6,
				tags, endpoints, ephemeral, credential_hash, token_id, state, created_at, last_seen, version, key_created_at, expires_at, owner, owner_groups)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			id, name, e.Hostname, e.OS, e.OSVersion, e.Arch, e.AgentVersion, e.PublicKey, idx, v4.String(), v6.String(),
			jsonList(tok.Tags), jsonList(e.Endpoints), b2i(tok.Ephemeral), e.CredentialHash, nullStr(tok.ID), wire.MachineActive, now, now, ch.Version, now, expiryFrom(db.Now(), machineLifetime(tok, e.Lifetime)), nullStr(owner), groups)
		if isUnique(err, "public_key") {
			return wire.Errorf(wire.CodePublicKeyInUse, "this WireGuard public key is already registered to another machine")
		}
		if err != nil {
			return fmt.Errorf("insert machine: %w", err)
		}
		a.Name = "token:" + tok.Prefix
		return db.audit(ctx, tx, a, "machine.enroll", id, map[string]any{
			"name": name, "hostname": e.Hostname, "os": e.OS, "arch": e.Arch, "token": tok.ID, "ipv4": v4.String(),
		})
	})
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			return wire.Machine{}, Change{}, we
		}
		return wire.Machine{}, Change{}, fmt.Errorf("store: enroll: %w", err)
	}
	ch.MachineID = id
	m, err := db.Machine(ctx, id)
	return m, ch, err
}

// uniqueName returns base, or base-2, base-3, … — the first name not taken.
func (db *DB) uniqueName(ctx context.Context, tx *sql.Tx, base string) (string, error) {
	if base == "" {
		base = "machine"
	}
	var n int
	if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM machines WHERE name = ?`), base).Scan(&n); err != nil {
		return "", fmt.Errorf("find free name: %w", err)
	}
	if n == 0 {
		return base, nil
	}
	// Names base-2, base-3, … sort between "base-" and "base." ('.' follows
	// '-'), a range the unique index on name answers without a scan.
	rows, err := tx.QueryContext(ctx, db.q(`SELECT name FROM machines WHERE name >= ? AND name < ?`), base+"-", base+".")
	if err != nil {
		return "", fmt.Errorf("find free name: %w", err)
	}
	taken := map[string]bool{base: true}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return "", err
		}
		taken[n] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", err
	}
	for i := 2; ; i++ {
		suffix := "-" + strconv.Itoa(i)
		b := base
		if len(b)+len(suffix) > wire.MaxNameLen {
			b = strings.TrimRight(b[:wire.MaxNameLen-len(suffix)], "-")
		}
		if n := b + suffix; !taken[n] {
			return n, nil
		}
	}
}

// Machine returns a machine by ID, or by name when no ID matches.
func (db *DB) Machine(ctx context.Context, idOrName string) (wire.Machine, error) {
	m, err := scanMachine(db.r.QueryRowContext(ctx, db.q(`SELECT `+machineCols+` FROM machines WHERE id = ? OR name = ? ORDER BY (id = ?) DESC LIMIT 1`), idOrName, idOrName, idOrName))
	if errors.Is(err, sql.ErrNoRows) {
		return m, ErrNotFound
	}
	if err != nil {
		return m, fmt.Errorf("store: read machine: %w", err)
	}
	return m, nil
}

// MachineByCredential returns the machine whose credential — current or
// next (see IssueNextCredential) — hashes to hash. Revoked machines are
// returned too; the caller refuses them with machine_revoked rather than
// the vaguer unauthenticated. It only reads: the promotion of a next
// credential on its first use is fleet's (Service.AuthenticateMachine).
func (db *DB) MachineByCredential(ctx context.Context, hash string) (wire.Machine, error) {
	m, _, err := db.MachineByAnyCredential(ctx, hash)
	return m, err
}

// MachineByAnyCredential returns the machine whose current or next
// credential hashes to hash, and whether it was the next one (which the
// machine's first use of promotes: PromoteCredential). It only reads.
func (db *DB) MachineByAnyCredential(ctx context.Context, hash string) (wire.Machine, bool, error) {
	m, err := scanMachine(db.r.QueryRowContext(ctx, db.q(`SELECT `+machineCols+` FROM machines WHERE credential_hash = ?`), hash))
	if err == nil {
		return m, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return m, false, fmt.Errorf("store: read machine: %w", err)
	}
	m, err = scanMachine(db.r.QueryRowContext(ctx, db.q(`SELECT `+machineCols+` FROM machines WHERE next_credential_hash = ?`), hash))
	if errors.Is(err, sql.ErrNoRows) {
		return m, false, ErrNotFound
	}
	if err != nil {
		return m, false, fmt.Errorf("store: read machine: %w", err)
	}
	return m, true, nil
}

// IssueNextCredential records nextHash as the machine's next credential
// (replacing a next one never used): the agent stores the credential, then
// uses it, which retires the current one. Until then both work.
func (db *DB) IssueNextCredential(ctx context.Context, machineID, nextHash string) error {
	res, err := db.w.ExecContext(ctx, db.q(`UPDATE machines SET next_credential_hash = ? WHERE id = ? AND state = ?`), nextHash, machineID, wire.MachineActive)
	if err != nil {
		return fmt.Errorf("store: issue the next credential: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// PromoteCredential makes the machine's next credential (hash) its
// current one, retiring the old, on the next credential's first use, with
// its audit event. A concurrent promotion of the same is not an error.
func (db *DB) PromoteCredential(ctx context.Context, m wire.Machine, hash string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`UPDATE machines SET credential_hash = next_credential_hash, next_credential_hash = NULL, credential_created_at = ?
			WHERE id = ? AND next_credential_hash = ?`), ms(db.Now()), m.ID, hash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // a concurrent request promoted it
		}
		return db.audit(ctx, tx, Actor{Name: "machine:" + m.Name, SourceIP: ""}, "machine.credential_rotate", m.ID, map[string]any{"name": m.Name})
	})
}

// MachineFilter narrows ListMachines. Empty fields match everything.
type MachineFilter struct {
	State string // active, revoked
	Tag   string
	Name  string // substring of name or hostname
}

// ListMachines returns machines ordered by name.
func (db *DB) ListMachines(ctx context.Context, f MachineFilter) ([]wire.Machine, error) {
	query := `SELECT ` + machineCols + ` FROM machines WHERE 1=1`
	var args []any
	if f.State != "" {
		query += ` AND state = ?`
		args = append(args, f.State)
	}
	if f.Name != "" {
		query += ` AND (name LIKE ? ESCAPE '\' OR hostname LIKE ? ESCAPE '\')`
		p := "%" + likeEscape(strings.ToLower(f.Name)) + "%"
		args = append(args, p, p)
	}
	if f.Tag != "" {
		// tags are a JSON list of validated tags: match the quoted element.
		query += ` AND tags LIKE ? ESCAPE '\'`
		args = append(args, `%"`+likeEscape(f.Tag)+`"%`)
	}
	query += ` ORDER BY name`
	rows, err := db.r.QueryContext(ctx, db.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: list machines: %w", err)
	}
	defer rows.Close()
	out := []wire.Machine{}
	for rows.Next() {
		m, err := scanMachine(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list machines: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// mutateMachine runs fn on the machine with the given ID or name inside a
// transaction, bumps the map version, and returns the machine as it is after.
func (db *DB) mutateMachine(ctx context.Context, idOrName string, fn func(tx *sql.Tx, m wire.Machine, version uint64) error) (wire.Machine, Change, error) {
	var ch Change
	err := db.tx(ctx, func(tx *sql.Tx) error {
		m, err := scanMachine(tx.QueryRowContext(ctx, db.q(`SELECT `+machineCols+` FROM machines WHERE id = ? OR name = ? ORDER BY (id = ?) DESC LIMIT 1`), idOrName, idOrName, idOrName))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		ch.MachineID = m.ID
		ch.Version, err = db.bumpVersion(ctx, tx, m.ID)
		if err != nil {
			return err
		}
		return fn(tx, m, ch.Version)
	})
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			return wire.Machine{}, Change{}, we
		}
		return wire.Machine{}, Change{}, fmt.Errorf("store: %w", err)
	}
	m, err := db.Machine(ctx, ch.MachineID)
	if errors.Is(err, ErrNotFound) {
		return wire.Machine{ID: ch.MachineID}, ch, nil // deleted
	}
	return m, ch, err
}

// mutateMachineAs is mutateMachine for an actor whose scope must manage
// the machine as it is inside the transaction (fleet checked it before;
// a re-tag in between must not let a team change a machine it no longer
// manages).
func (db *DB) mutateMachineAs(ctx context.Context, a Actor, idOrName string, fn func(tx *sql.Tx, m wire.Machine, version uint64) error) (wire.Machine, Change, error) {
	return db.mutateMachine(ctx, idOrName, func(tx *sql.Tx, m wire.Machine, v uint64) error {
		if !a.Scope.Manages(m.Tags) {
			return wire.Errorf(wire.CodeForbidden, "you may not do machine %s (outside your teams)", m.Name)
		}
		return fn(tx, m, v)
	})
}

// errRevokedStays refuses changing what no longer matters on a revoked
// machine.
func errRevokedStays(m wire.Machine) error {
	return wire.Errorf(wire.CodeConflict, "%s is revoked: its name, tags and version no longer matter (delete it to free the name)", m.Name)
}

// MachineChange is what an admin changes of a machine at once; nil
// fields stay as they are.
type MachineChange struct {
	Name *string
	Tags *[]string
	// Pin is the agent version to pin ("" follows the channel again).
	Pin *string
	// Expiry turns the machine's expiry off or sets it (and so brings an
	// expired machine back: the admin vouches for it).
	Expiry *ExpiryChange
	// Owner names the person whose machine it is ("" none): an account.
	Owner *string
}

// ExpiryChange is off, or a time to expire at.
type ExpiryChange struct {
	Off bool
	At  time.Time
}

// ChangeMachine makes every change in c in one transaction: one map
// version and one audit event, named after the change when there is one
// kind (machine.update for a rename or re-tag, machine.pin_version,
// machine.expiry) and machine.update with every field when there are
// several. A revoked machine keeps its name, tags, pin and expiry.
func (db *DB) ChangeMachine(ctx context.Context, a Actor, idOrName string, c MachineChange) (wire.Machine, Change, error) {
	return db.mutateMachineAs(ctx, a, idOrName, func(tx *sql.Tx, m wire.Machine, v uint64) error {
		if m.State == wire.MachineRevoked {
			if c.Name == nil && c.Tags == nil && c.Pin == nil {
				return wire.Errorf(wire.CodeConflict, "machine %s is revoked; a revoked machine cannot come back", m.Name)
			}
			return errRevokedStays(m)
		}
		details := map[string]any{}
		action, kinds := "machine.update", 0
		if c.Name != nil || c.Tags != nil {
			kinds++
		}
		if c.Name != nil && *c.Name != m.Name {
			_, err := tx.ExecContext(ctx, db.q(`UPDATE machines SET name = ?, version = ? WHERE id = ?`), *c.Name, v, m.ID)
			if isUnique(err, "name") {
				return wire.Errorf(wire.CodeNameTaken, "another machine is already named %q", *c.Name)
			}
			if err != nil {
				return err
			}
			details["old_name"], details["name"] = m.Name, *c.Name
		}
		if c.Tags != nil {
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE machines SET tags = ?, version = ? WHERE id = ?`), jsonList(*c.Tags), v, m.ID); err != nil {
				return err
			}
			details["old_tags"], details["tags"] = m.Tags, *c.Tags
		}
		if c.Pin != nil {
			kinds++
			action = "machine.pin_version"
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE machines SET pinned_version = ?, version = ? WHERE id = ?`), *c.Pin, v, m.ID); err != nil {
				return err
			}
			details["version"], details["previous"] = *c.Pin, m.PinnedVersion
		}
		if e := c.Expiry; e != nil {
			kinds++
			action = "machine.expiry"
			var err error
			details["was"] = m.State
			if e.Off {
				_, err = tx.ExecContext(ctx, db.q(`UPDATE machines SET expiry_disabled = 1, state = ?, version = ? WHERE id = ?`), wire.MachineActive, v, m.ID)
				details["expiry"] = "off"
			} else {
				_, err = tx.ExecContext(ctx, db.q(`UPDATE machines SET expiry_disabled = 0, expires_at = ?, state = ?, version = ? WHERE id = ?`), ms(e.At), wire.MachineActive, v, m.ID)
				details["expires_at"] = e.At.UTC()
			}
			if err != nil {
				return err
			}
		}
		if c.Owner != nil && *c.Owner != m.Owner {
			kinds++
			action = "machine.owner"
			if *c.Owner != "" {
				var n int
				if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM admins WHERE name = ?`), *c.Owner).Scan(&n); err != nil {
					return err
				}
				if n == 0 {
					return wire.Errorf(wire.CodeInvalidArgument, "no person is named %q (see `wirefleet-server directory people`)", *c.Owner)
				}
			}
			groups, err := db.ownerGroupsFor(ctx, tx, *c.Owner)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE machines SET owner = ?, owner_groups = ?, version = ? WHERE id = ?`), nullStr(*c.Owner), groups, v, m.ID); err != nil {
				return err
			}
			details["owner"], details["old_owner"] = *c.Owner, m.Owner
		}
		if kinds > 1 || c.Name != nil || c.Tags != nil {
			action = "machine.update"
		}
		if _, ok := details["name"]; !ok && (c.Pin != nil || c.Expiry != nil || c.Owner != nil) {
			details["name"] = m.Name
		}
		return db.audit(ctx, tx, a, action, m.ID, details)
	})
}

// UpdateMachine renames and/or re-tags a machine (not a revoked one).
func (db *DB) UpdateMachine(ctx context.Context, a Actor, idOrName string, name *string, tags *[]string) (wire.Machine, Change, error) {
	return db.ChangeMachine(ctx, a, idOrName, MachineChange{Name: name, Tags: tags})
}

// PinVersion sets the agent version an admin wants on a machine ("" lets
// it follow its channel again). The agent learns it from its next health
// acknowledgement and moves to it — even to an older release — when that
// version's signed manifest is on the server.
func (db *DB) PinVersion(ctx context.Context, a Actor, idOrName, version string) (wire.Machine, Change, error) {
	return db.ChangeMachine(ctx, a, idOrName, MachineChange{Pin: &version})
}

// RevokeMachine revokes a machine's credential. It takes effect at once:
// the next request with it, and every long-poll it holds, get
// machine_revoked.
func (db *DB) RevokeMachine(ctx context.Context, a Actor, idOrName string) (wire.Machine, Change, error) {
	return db.mutateMachineAs(ctx, a, idOrName, func(tx *sql.Tx, m wire.Machine, v uint64) error {
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE machines SET state = ?, revoked_at = COALESCE(revoked_at, ?), version = ? WHERE id = ?`),
			wire.MachineRevoked, ms(db.Now()), v, m.ID); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "machine.revoke", m.ID, map[string]any{"name": m.Name})
	})
}

// DeleteMachine removes a machine. Its addresses are not handed out again.
func (db *DB) DeleteMachine(ctx context.Context, a Actor, idOrName string) (wire.Machine, Change, error) {
	var gone wire.Machine
	_, ch, err := db.mutateMachineAs(ctx, a, idOrName, func(tx *sql.Tx, m wire.Machine, v uint64) error {
		gone = m
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM machines WHERE id = ?`), m.ID); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "machine.delete", m.ID, map[string]any{"name": m.Name, "ipv4": m.IPv4})
	})
	return gone, ch, err
}

// SetEndpoints records the endpoints a machine is reachable on. Unchanged
// endpoints do not move the map version (agents report them periodically).
func (db *DB) SetEndpoints(ctx context.Context, machineID string, eps []string) (Change, bool, error) {
	cur, err := db.Machine(ctx, machineID)
	if err != nil {
		return Change{}, false, err
	}
	if jsonList(cur.Endpoints) == jsonList(eps) {
		return Change{}, false, nil
	}
	_, ch, err := db.mutateMachine(ctx, machineID, func(tx *sql.Tx, m wire.Machine, v uint64) error {
		_, err := tx.ExecContext(ctx, db.q(`UPDATE machines SET endpoints = ?, version = ? WHERE id = ?`), jsonList(eps), v, m.ID)
		return err
	})
	return ch, err == nil, err
}

// Rekey replaces a machine's WireGuard public key.
func (db *DB) Rekey(ctx context.Context, a Actor, machineID, publicKey string) (wire.Machine, Change, error) {
	return db.mutateMachine(ctx, machineID, func(tx *sql.Tx, m wire.Machine, v uint64) error {
		_, err := tx.ExecContext(ctx, db.q(`UPDATE machines SET public_key = ?, key_created_at = ?, version = ? WHERE id = ?`), publicKey, ms(db.Now()), v, m.ID)
		if isUnique(err, "public_key") {
			return wire.Errorf(wire.CodePublicKeyInUse, "this WireGuard public key is already registered to another machine")
		}
		if err != nil {
			return err
		}
		details := map[string]any{"old_public_key": m.PublicKey, "public_key": publicKey, "key_age_s": int64(db.Now().Sub(*m.KeyCreatedAt).Seconds())}
		if m.RotateKeyBefore != nil {
			details["requested"] = true
		}
		return db.audit(ctx, tx, a, "machine.rekey", m.ID, details)
	})
}

// nullStr is s, or NULL when empty.
func nullStr(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// expiryFrom is the expires_at of a machine enrolled at now for lifetime
// (NULL: forever).
func expiryFrom(now time.Time, lifetime time.Duration) sql.NullInt64 {
	if lifetime <= 0 {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: ms(now.Add(lifetime)), Valid: true}
}

// Expired reports whether m's enrollment has expired at now (expired
// already, or active past its expiry).
func Expired(m wire.Machine, now time.Time) bool {
	return m.State == wire.MachineExpired ||
		m.State == wire.MachineActive && !m.ExpiryDisabled && m.ExpiresAt != nil && !now.Before(*m.ExpiresAt)
}

// ExpireMachine takes an active machine past its expiry out of the map, as
// a revocation does, but keeps its credential, name and addresses for a
// re-authentication. A machine not (or no longer) due is left alone.
func (db *DB) ExpireMachine(ctx context.Context, a Actor, id string) (wire.Machine, Change, bool, error) {
	expired := false
	m, ch, err := db.mutateMachine(ctx, id, func(tx *sql.Tx, m wire.Machine, v uint64) error {
		if m.State != wire.MachineActive || !Expired(m, db.Now()) {
			return errNothingToDo
		}
		expired = true
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE machines SET state = ?, version = ? WHERE id = ?`), wire.MachineExpired, v, m.ID); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "machine.expire", m.ID, map[string]any{"name": m.Name, "expires_at": m.ExpiresAt})
	})
	if errors.Is(err, errNothingToDo) {
		return m, Change{}, false, nil
	}
	return m, ch, expired, err
}

// errNothingToDo rolls back a mutation that turned out not to apply.
var errNothingToDo = errors.New("store: nothing to do")

// DueToExpire lists the active machines whose expiry has passed at now.
func (db *DB) DueToExpire(ctx context.Context, now time.Time) ([]wire.Machine, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+machineCols+` FROM machines WHERE state = ? AND expiry_disabled = 0 AND expires_at IS NOT NULL AND expires_at <= ?`),
		wire.MachineActive, ms(now))
	if err != nil {
		return nil, fmt.Errorf("store: list machines due to expire: %w", err)
	}
	defer rows.Close()
	var out []wire.Machine
	for rows.Next() {
		m, err := scanMachine(rows)
		if err != nil {
			return nil, fmt.Errorf("store: read machine: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Reauth brings an expired (or soon expiring) machine back with an
// enrollment token: the token is used as an enrollment would use it, the
// machine becomes active with a new expiry, and keeps its name, addresses,
// keys and tags. lifetime is the server's --machine-expiry.
func (db *DB) Reauth(ctx context.Context, a Actor, machineID, tokenHash string, lifetime time.Duration) (wire.Machine, Change, error) {
	return db.mutateMachine(ctx, machineID, func(tx *sql.Tx, m wire.Machine, v uint64) error {
		if m.State == wire.MachineRevoked {
			return wire.Errorf(wire.CodeMachineRevoked, "machine %s has been revoked by an admin", m.Name)
		}
		tok, err := db.consumeToken(ctx, tx, tokenHash)
		if err != nil {
			return err
		}
		exp := expiryFrom(db.Now(), machineLifetime(tok, lifetime))
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE machines SET state = ?, expires_at = ?, version = ? WHERE id = ?`), wire.MachineActive, exp, v, m.ID); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "machine.reauth", m.ID, map[string]any{"name": m.Name, "token": tok.Prefix, "was": m.State})
	})
}

// SetExpiry turns a machine's expiry off, or sets it to at (turning it on).
// An expired machine comes back at once: the admin vouches for it, as a
// re-authentication would.
func (db *DB) SetExpiry(ctx context.Context, a Actor, idOrName string, off bool, at time.Time) (wire.Machine, Change, error) {
	return db.ChangeMachine(ctx, a, idOrName, MachineChange{Expiry: &ExpiryChange{Off: off, At: at}})
}

// RequestKeyRotation asks the agent of one machine to replace its
// WireGuard key: the request reaches it in its own part of the map, and is
// done when a key newer than the request is registered.
func (db *DB) RequestKeyRotation(ctx context.Context, a Actor, idOrName string) (wire.Machine, Change, error) {
	return db.mutateMachineAs(ctx, a, idOrName, func(tx *sql.Tx, m wire.Machine, v uint64) error {
		if m.State != wire.MachineActive {
			return wire.Errorf(wire.CodeConflict, "machine %s is %s; only an active machine can rotate its key", m.Name, m.State)
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE machines SET rotate_key_before = ?, version = ? WHERE id = ?`), ms(db.Now()), v, m.ID); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "machine.rotate_key", m.ID, map[string]any{"name": m.Name})
	})
}

// TouchLastSeen records when machines were last heard from, in one
// transaction. The server batches these so that polls cost no writes.
func (db *DB) TouchLastSeen(ctx context.Context, seen map[string]time.Time) error {
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids) // the order SaveHealth locks rows in: see there
	// In transactions of touchChunk rows: one transaction over a whole
	// fleet's rows (50,000 every 30 s) would hold SQLite's single writer for
	// seconds, and every health report waiting to commit with it.
	for len(ids) > 0 {
		chunk := ids[:min(touchChunk, len(ids))]
		ids = ids[len(chunk):]
		err := db.tx(ctx, func(tx *sql.Tx) error {
			stmt, err := tx.PrepareContext(ctx, db.q(`UPDATE machines SET last_seen = ? WHERE id = ? AND (last_seen IS NULL OR last_seen < ?)`))
			if err != nil {
				return err
			}
			defer stmt.Close()
			for _, id := range chunk {
				t := ms(seen[id])
				if _, err := stmt.ExecContext(ctx, t, id, t); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: touch last seen: %w", err)
		}
	}
	return nil
}

// touchChunk is how many last-seen times one transaction writes.
var touchChunk = 1000

// StaleEphemeral lists ephemeral machines last seen before cutoff.
func (db *DB) StaleEphemeral(ctx context.Context, cutoff time.Time) ([]wire.Machine, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+machineCols+` FROM machines WHERE ephemeral = 1 AND COALESCE(last_seen, created_at) < ?`), ms(cutoff))
	if err != nil {
		return nil, fmt.Errorf("store: list stale ephemeral machines: %w", err)
	}
	defer rows.Close()
	var out []wire.Machine
	for rows.Next() {
		m, err := scanMachine(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// MapState is what the netmap hub loads at start: every machine, the
// current version, and the recent change log.
type MapState struct {
	Version  uint64
	Machines []wire.Machine
	Log      []Change // ascending by version
	ULA      netip.Prefix
	Policy   StoredPolicy // in force at Version
	DNS      []wire.DNSRecord
}

// LoadMapState reads the state the netmap hub needs, at one point in time,
// with at most logLimit recent log entries.
func (db *DB) LoadMapState(ctx context.Context, logLimit int) (MapState, error) {
	var st MapState
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return st, fmt.Errorf("store: load map state: %w", err)
	}
	defer tx.Rollback()
	var vs, ula string
	if err := tx.QueryRowContext(ctx, db.q(`SELECT value FROM meta WHERE key = ?`), metaVersion).Scan(&vs); err != nil {
		return st, fmt.Errorf("store: load map state: %w", err)
	}
	if err := tx.QueryRowContext(ctx, db.q(`SELECT value FROM meta WHERE key = ?`), metaULA).Scan(&ula); err != nil {
		return st, fmt.Errorf("store: load map state: %w", err)
	}
	st.Version, _ = strconv.ParseUint(vs, 10, 64)
	st.ULA, err = netip.ParsePrefix(ula)
	if err != nil {
		return st, fmt.Errorf("store: bad ULA prefix %q: %w", ula, err)
	}
	if st.Policy, err = db.policyWhere(ctx, tx, `ORDER BY version DESC LIMIT 1`); err != nil {
		return st, err
	}
	if st.DNS, err = db.dnsRecords(ctx, tx); err != nil {
		return st, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+machineCols+` FROM machines ORDER BY id`)
	if err != nil {
		return st, fmt.Errorf("store: load machines: %w", err)
	}
	for rows.Next() {
		m, err := scanMachine(rows)
		if err != nil {
			rows.Close()
			return st, err
		}
		st.Machines = append(st.Machines, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, err
	}
	rows, err = tx.QueryContext(ctx, db.q(`SELECT version, machine_id FROM netmap_log ORDER BY version DESC LIMIT ?`), logLimit)
	if err != nil {
		return st, fmt.Errorf("store: load netmap log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c Change
		if err := rows.Scan(&c.Version, &c.MachineID); err != nil {
			return st, err
		}
		st.Log = append(st.Log, c)
	}
	for i, j := 0, len(st.Log)-1; i < j; i, j = i+1, j-1 {
		st.Log[i], st.Log[j] = st.Log[j], st.Log[i]
	}
	return st, rows.Err()
}

// TrimNetmapLog keeps only the newest keep entries of the change log.
func (db *DB) TrimNetmapLog(ctx context.Context, keep int) error {
	_, err := db.w.ExecContext(ctx, db.q(`DELETE FROM netmap_log WHERE version <= (SELECT COALESCE(MAX(version), 0) FROM netmap_log) - ?`), keep)
	if err != nil {
		return fmt.Errorf("store: trim netmap log: %w", err)
	}
	return nil
}

// ChangesSince returns the change-log entries after version, in order, and
// the current rows of the machines they name (deleted machines are absent).
func (db *DB) ChangesSince(ctx context.Context, version uint64) ([]Change, []wire.Machine, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, fmt.Errorf("store: read changes: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, db.q(`SELECT version, machine_id FROM netmap_log WHERE version > ? ORDER BY version`), version)
	if err != nil {
		return nil, nil, fmt.Errorf("store: read changes: %w", err)
	}
	var changes []Change
	ids := map[string]bool{}
	for rows.Next() {
		var c Change
		if err := rows.Scan(&c.Version, &c.MachineID); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("store: read changes: %w", err)
		}
		changes = append(changes, c)
		ids[c.MachineID] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("store: read changes: %w", err)
	}
	if len(changes) == 0 {
		return nil, nil, nil
	}
	var machines []wire.Machine
	if len(ids) > 200 {
		// Many changes at once (a restart of a replica, a bulk import):
		// one scan beats hundreds of lookups.
		rows, err := tx.QueryContext(ctx, `SELECT `+machineCols+` FROM machines`)
		if err != nil {
			return nil, nil, fmt.Errorf("store: read changed machines: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMachine(rows)
			if err != nil {
				return nil, nil, err
			}
			if ids[m.ID] {
				machines = append(machines, m)
			}
		}
		return changes, machines, rows.Err()
	}
	stmt, err := tx.PrepareContext(ctx, db.q(`SELECT `+machineCols+` FROM machines WHERE id = ?`))
	if err != nil {
		return nil, nil, fmt.Errorf("store: read changed machines: %w", err)
	}
	defer stmt.Close()
	for id := range ids {
		m, err := scanMachine(stmt.QueryRowContext(ctx, id))
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("store: read changed machines: %w", err)
		}
		machines = append(machines, m)
	}
	return changes, machines, nil
}

// CountMachines returns the number of machines in each state.
func (db *DB) CountMachines(ctx context.Context) (map[string]int, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT state, COUNT(*) FROM machines GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("store: count machines: %w", err)
	}
	defer rows.Close()
	out := map[string]int{wire.MachineActive: 0, wire.MachineRevoked: 0, wire.MachineExpired: 0}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// QuietMachines lists the active machines last heard from before cutoff
// (or never), by the times written so far (the hub holds newer ones).
func (db *DB) QuietMachines(ctx context.Context, cutoff time.Time) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT id FROM machines WHERE state = 'active' AND (last_seen IS NULL OR last_seen < ?)`), ms(cutoff))
	if err != nil {
		return nil, fmt.Errorf("store: quiet machines: %w", err)
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

// MachineRef names a machine (a link on a page).
type MachineRef struct {
	ID, Name string
}

// MachinesByToken returns, per token ID, the machines enrolled with it,
// by name.
func (db *DB) MachinesByToken(ctx context.Context) (map[string][]MachineRef, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT token_id, id, name FROM machines WHERE token_id IS NOT NULL AND token_id <> '' ORDER BY name`))
	if err != nil {
		return nil, fmt.Errorf("store: machines by token: %w", err)
	}
	defer rows.Close()
	out := map[string][]MachineRef{}
	for rows.Next() {
		var tok string
		var m MachineRef
		if err := rows.Scan(&tok, &m.ID, &m.Name); err != nil {
			return nil, fmt.Errorf("store: machines by token: %w", err)
		}
		out[tok] = append(out[tok], m)
	}
	return out, rows.Err()
}

// MachineNames maps the given machine IDs to their names (IDs of deleted
// machines are left out).
func (db *DB) MachineNames(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT id, name FROM machines WHERE id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`), args...)
	if err != nil {
		return nil, fmt.Errorf("store: machine names: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("store: machine names: %w", err)
		}
		out[id] = name
	}
	return out, rows.Err()
}

// SeenState is what the last_seen sweep needs of an active machine.
type SeenState struct {
	ID       string
	LastSeen *time.Time
	Within   []string // as stored (Machine.SeenWithin)
}

// SeenStates lists every active machine's last contact and the last_seen
// durations it was last found within; with recordedOnly, only machines
// that have some recorded (what a policy without last_seen still has to
// clear).
func (db *DB) SeenStates(ctx context.Context, recordedOnly bool) ([]SeenState, error) {
	q := `SELECT id, last_seen, seen_within FROM machines WHERE state = ?`
	if recordedOnly {
		q += ` AND seen_within IS NOT NULL`
	}
	rows, err := db.r.QueryContext(ctx, db.q(q), wire.MachineActive)
	if err != nil {
		return nil, fmt.Errorf("store: list last contacts: %w", err)
	}
	defer rows.Close()
	var out []SeenState
	for rows.Next() {
		var s SeenState
		var seen sql.NullInt64
		var within sql.NullString
		if err := rows.Scan(&s.ID, &seen, &within); err != nil {
			return nil, fmt.Errorf("store: read last contact: %w", err)
		}
		s.LastSeen = fromNullMS(seen)
		if within.Valid && within.String != "" {
			s.Within = parseList(within.String)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// SetSeenWithin records the last_seen durations a machine was found
// within: a map change of the machine (its postures may change), not an
// admin's, so not audited.
func (db *DB) SetSeenWithin(ctx context.Context, id string, within []string) (Change, error) {
	var enc sql.NullString
	if len(within) > 0 {
		b, _ := json.Marshal(within)
		enc = sql.NullString{String: string(b), Valid: true}
	}
	_, ch, err := db.mutateMachine(ctx, id, func(tx *sql.Tx, m wire.Machine, v uint64) error {
		if m.State != wire.MachineActive {
			return errNothingToDo
		}
		_, err := tx.ExecContext(ctx, db.q(`UPDATE machines SET seen_within = ?, version = ? WHERE id = ?`), enc, v, m.ID)
		return err
	})
	if errors.Is(err, errNothingToDo) {
		return Change{}, nil
	}
	return ch, err
}
