package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// routesJSON is how a machine's routes are stored (NULL: none).
func routesJSON(mr wire.MachineRoutes) sql.NullString {
	if len(mr.Advertised)+len(mr.Approved)+len(mr.Rejected) == 0 && mr.Failing == "" {
		return sql.NullString{}
	}
	b, _ := json.Marshal(mr)
	return sql.NullString{String: string(b), Valid: true}
}

func routesOf(m wire.Machine) wire.MachineRoutes {
	if m.Routes == nil {
		return wire.MachineRoutes{}
	}
	return *m.Routes
}

// SetAdvertisedRoutes records what a machine advertises (validated and
// sorted by the caller). Admins' decisions stay: a route advertised
// again later is approved (or rejected) as it was. An unchanged
// advertisement (agents send theirs at every start) moves nothing.
//
// failing is why the router's own check of its routes fails ("": it
// passes); a change of it is audited as machine.routes.check.
func (db *DB) SetAdvertisedRoutes(ctx context.Context, a Actor, machineID string, adv []string, failing string) (wire.Machine, Change, bool, error) {
	cur, err := db.Machine(ctx, machineID)
	if err != nil {
		return cur, Change{}, false, err
	}
	same := slices.Equal(routesOf(cur).Advertised, adv) || len(adv) == 0 && len(routesOf(cur).Advertised) == 0
	if same && routesOf(cur).Failing == failing {
		return cur, Change{}, false, nil
	}
	m, ch, err := db.mutateMachine(ctx, machineID, func(tx *sql.Tx, m wire.Machine, v uint64) error {
		mr := routesOf(m)
		old, oldFailing := mr.Advertised, mr.Failing
		mr.Advertised, mr.Failing = adv, failing
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE machines SET routes = ?, version = ? WHERE id = ?`), routesJSON(mr), v, m.ID); err != nil {
			return err
		}
		if !slices.Equal(old, adv) {
			if err := db.audit(ctx, tx, a, "machine.routes.advertise", m.ID, map[string]any{"name": m.Name, "routes": adv, "before": old}); err != nil {
				return err
			}
		}
		if oldFailing != failing {
			return db.audit(ctx, tx, a, "machine.routes.check", m.ID, map[string]any{"name": m.Name, "failing": failing, "before": oldFailing})
		}
		return nil
	})
	return m, ch, err == nil, err
}

// DecideRoutes records an admin's approval or rejection of some of a
// machine's advertised routes (wire.MachineRoutes.Decide), audited.
func (db *DB) DecideRoutes(ctx context.Context, a Actor, idOrName string, d wire.RouteDecision, approve bool) (wire.Machine, Change, error) {
	return db.mutateMachineAs(ctx, a, idOrName, func(tx *sql.Tx, m wire.Machine, v uint64) error {
		mr, names, err := routesOf(m).Decide(d, approve)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE machines SET routes = ?, version = ? WHERE id = ?`), routesJSON(mr), v, m.ID); err != nil {
			return err
		}
		action := "machine.routes.approve"
		if !approve {
			action = "machine.routes.reject"
		}
		return db.audit(ctx, tx, a, action, m.ID, map[string]any{"name": m.Name, "routes": names})
	})
}
