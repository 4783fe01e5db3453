package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// TestDirectoryMovesOwnersMachines: memberships ride on the owner's
// machines as map changes; deactivation ends sessions and keys and does
// the chosen thing to the machines; a deleted group leaves them.
func TestDirectoryMovesOwnersMachines(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	alice, err := db.CreatePerson(ctx, admin, PersonInput{UserName: "alice@example.com", DisplayName: "Alice", ExternalID: "00u1", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := db.CreatePerson(ctx, admin, PersonInput{UserName: "bob@example.com", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreatePerson(ctx, admin, PersonInput{UserName: "alice@example.com", Active: true}); !isCode(err, wire.CodeConflict) {
		t.Fatalf("duplicate userName: %v", err)
	}
	// A token owned by alice enrolls her laptop; a machine without an
	// owner stays out of every group.
	laptop, _, err := db.Enroll(ctx, admin, enrollment(t, token(t, db, NewToken{Owner: alice.Name}), "laptop"))
	if err != nil {
		t.Fatal(err)
	}
	server, _, err := db.Enroll(ctx, admin, enrollment(t, token(t, db, NewToken{}), "server"))
	if err != nil {
		t.Fatal(err)
	}
	if laptop.Owner != alice.Name || laptop.OwnerGroups != nil {
		t.Fatalf("laptop: owner %q groups %v", laptop.Owner, laptop.OwnerGroups)
	}
	if _, err := db.CreateToken(ctx, admin, NewToken{Prefix: "wfe_x", Hash: "h-x", Owner: "nobody@example.com"}); !isCode(err, wire.CodeInvalidArgument) {
		t.Fatalf("token for an unknown person: %v", err)
	}

	eng, chs, err := db.CreateGroup(ctx, admin, GroupInput{Name: "Engineering", Members: []string{alice.ID, bob.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(chs) != 1 || chs[0].MachineID != laptop.ID {
		t.Fatalf("group creation changed %v, want the laptop", chs)
	}
	if got := machine(t, db, laptop.ID).OwnerGroups; !slices.Equal(got, []string{"Engineering"}) {
		t.Fatalf("laptop groups %v", got)
	}
	if _, _, err := db.CreateGroup(ctx, admin, GroupInput{Name: "Ops", Members: []string{"adm_nobody"}}); !isCode(err, wire.CodeInvalidArgument) {
		t.Fatalf("unknown member: %v", err)
	}
	// A second group, then the server handed to bob.
	ops, _, err := db.CreateGroup(ctx, admin, GroupInput{Name: "Ops", Members: []string{alice.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if got := machine(t, db, laptop.ID).OwnerGroups; !slices.Equal(got, []string{"Engineering", "Ops"}) {
		t.Fatalf("laptop groups %v", got)
	}
	owner := bob.Name
	if _, _, err := db.ChangeMachine(ctx, admin, server.ID, MachineChange{Owner: &owner}); err != nil {
		t.Fatal(err)
	}
	if got := machine(t, db, server.ID).OwnerGroups; !slices.Equal(got, []string{"Engineering"}) {
		t.Fatalf("server groups %v", got)
	}

	t.Run("a rename travels", func(t *testing.T) {
		name := "Platform Ops"
		if _, chs, err := db.ChangeGroup(ctx, admin, ops.ID, GroupChange{Name: &name}); err != nil || len(chs) != 1 {
			t.Fatalf("rename: %v, %v", chs, err)
		}
		if got := machine(t, db, laptop.ID).OwnerGroups; !slices.Equal(got, []string{"Engineering", "Platform Ops"}) {
			t.Fatalf("laptop groups %v", got)
		}
	})
	t.Run("removing a member", func(t *testing.T) {
		_, chs, err := db.ChangeGroup(ctx, admin, eng.ID, GroupChange{Remove: []string{bob.ID}})
		if err != nil || len(chs) != 1 || chs[0].MachineID != server.ID {
			t.Fatalf("remove bob: %v, %v", chs, err)
		}
		if got := machine(t, db, server.ID).OwnerGroups; got != nil {
			t.Fatalf("server groups %v", got)
		}
		// Removing again changes nothing.
		if _, chs, err := db.ChangeGroup(ctx, admin, eng.ID, GroupChange{Remove: []string{bob.ID}}); err != nil || len(chs) != 0 {
			t.Fatalf("remove again: %v, %v", chs, err)
		}
	})
	t.Run("OIDC groups claim", func(t *testing.T) {
		chs, err := db.SyncGroupNames(ctx, admin, bob.ID, []string{"Engineering", "Support", "bad\x00name"})
		if err != nil || len(chs) != 1 {
			t.Fatalf("sync: %v, %v", chs, err)
		}
		if got := machine(t, db, server.ID).OwnerGroups; !slices.Equal(got, []string{"Engineering", "Support"}) {
			t.Fatalf("server groups %v", got)
		}
		if chs, err := db.SyncGroupNames(ctx, admin, bob.ID, []string{"Support", "Engineering"}); err != nil || len(chs) != 0 {
			t.Fatalf("same claim again: %v, %v", chs, err)
		}
	})
	t.Run("deactivation", func(t *testing.T) {
		if err := db.CreateSession(ctx, admin, alice.ID, "sess-hash", "csrf", 3600e9); err != nil {
			t.Fatal(err)
		}
		if err := db.insertKey(ctx, alice.ID, "key-hash"); err != nil {
			t.Fatal(err)
		}
		off := false
		p, chs, err := db.ChangePerson(ctx, admin, alice.ID, PersonChange{Active: &off}, DeprovisionExpire)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Deactivated || len(chs) == 0 {
			t.Fatalf("deactivated %v, changes %v", p.Deactivated, chs)
		}
		m := machine(t, db, laptop.ID)
		if m.State != wire.MachineExpired || m.OwnerGroups != nil {
			t.Fatalf("laptop after deactivation: %s %v", m.State, m.OwnerGroups)
		}
		if _, err := db.SessionByHash(ctx, "sess-hash"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("session lives on: %v", err)
		}
		if _, err := db.AdminByAPIKey(ctx, "key-hash"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("API key lives on: %v", err)
		}
		if _, _, err := db.SSOAdmin(ctx, admin, "sub-alice", alice.Name, wire.RoleMember); !isCode(err, wire.CodeForbidden) {
			t.Fatalf("sign-in of a deactivated person: %v", err)
		}
		ev, err := db.ListAudit(ctx, AuditFilter{Action: "person.deactivate"})
		if err != nil || len(ev.Events) != 1 {
			t.Fatalf("audit: %+v, %v", ev, err)
		}
		on := true
		if _, _, err := db.ChangePerson(ctx, admin, alice.ID, PersonChange{Active: &on}, DeprovisionExpire); err != nil {
			t.Fatal(err)
		}
		if got := machine(t, db, laptop.ID).OwnerGroups; !slices.Equal(got, []string{"Engineering", "Platform Ops"}) {
			t.Fatalf("reactivated laptop groups %v", got)
		}
	})
	t.Run("first sign-on adopts a provisioned person", func(t *testing.T) {
		ad, created, err := db.SSOAdmin(ctx, admin, "sub-alice", alice.Name, wire.RoleMember)
		if err != nil || created || ad.ID != alice.ID {
			t.Fatalf("adopt: %+v %v %v", ad, created, err)
		}
		if _, _, err := db.SSOAdmin(ctx, admin, "sub-mallory", alice.Name, wire.RoleMember); !isCode(err, wire.CodeConflict) {
			t.Fatalf("another subject for the same name: %v", err)
		}
	})
	t.Run("delete with revoke", func(t *testing.T) {
		if _, err := db.DeletePerson(ctx, admin, bob.ID, DeprovisionRevoke); err != nil {
			t.Fatal(err)
		}
		if m := machine(t, db, server.ID); m.State != wire.MachineRevoked {
			t.Fatalf("bob's server: %s", m.State)
		}
		g, err := db.Group(ctx, eng.ID)
		if err != nil || !slices.Equal(g.Members, []string{alice.Name}) {
			t.Fatalf("group after delete: %+v, %v", g, err)
		}
	})
	t.Run("deleting a group", func(t *testing.T) {
		if _, err := db.DeleteGroup(ctx, admin, eng.ID); err != nil {
			t.Fatal(err)
		}
		if got := machine(t, db, laptop.ID).OwnerGroups; !slices.Equal(got, []string{"Platform Ops"}) {
			t.Fatalf("laptop groups %v", got)
		}
		if _, err := db.Group(ctx, eng.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted group: %v", err)
		}
	})
}

func TestSCIMTokens(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	tok, err := db.CreateSCIMToken(ctx, admin, "wfs_abcd", "scim-hash")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := db.SCIMTokenByHash(ctx, "scim-hash"); err != nil || got.ID != tok.ID {
		t.Fatalf("lookup: %+v %v", got, err)
	}
	if err := db.RevokeSCIMToken(ctx, admin, "wfs_abcd"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SCIMTokenByHash(ctx, "scim-hash"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked token: %v", err)
	}
	ts, err := db.SCIMTokens(ctx)
	if err != nil || len(ts) != 1 || ts[0].RevokedAt == nil || ts[0].LastUsedAt == nil {
		t.Fatalf("list: %+v %v", ts, err)
	}
}

func machine(t *testing.T, db *DB, id string) wire.Machine {
	t.Helper()
	m, err := db.Machine(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func isCode(err error, c wire.Code) bool {
	var we *wire.Error
	return errors.As(err, &we) && we.Code == c
}

func (db *DB) insertKey(ctx context.Context, adminID, hash string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		return db.insertAPIKey(ctx, tx, adminID, NewAPIKey{Prefix: "wfa_test", Hash: hash})
	})
}

// A scoped actor's machine changes are checked inside the transaction,
// against the machine as it is then.
func TestScopeIsCheckedInTheTransaction(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	m, _, err := db.Enroll(ctx, admin, enrollment(t, token(t, db, NewToken{Tags: []string{"web"}}), "web-1"))
	if err != nil {
		t.Fatal(err)
	}
	web := Actor{Name: "member:wendy", Scope: &Scope{Person: "wendy", AdminTags: map[string]bool{"web": true}, MemberTags: map[string]bool{}, AdminTeams: []string{"web"}}}
	name := "web-2"
	if _, _, err := db.ChangeMachine(ctx, web, m.ID, MachineChange{Name: &name}); err != nil {
		t.Fatalf("in scope: %v", err)
	}
	tags := []string{"db"}
	if _, _, err := db.ChangeMachine(ctx, admin, m.ID, MachineChange{Tags: &tags}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.RevokeMachine(ctx, web, m.ID); !isCode(err, wire.CodeForbidden) {
		t.Fatalf("after the machine left the team: %v", err)
	}
	if got := machine(t, db, m.ID); got.State != wire.MachineActive {
		t.Fatalf("state %s", got.State)
	}
}
