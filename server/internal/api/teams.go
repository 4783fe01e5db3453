package api

import (
	"net/http"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/fleet"
)

// scopeDecision is who may use an admin route.
type scopeDecision int

const (
	// ownerOnly: the fleet's admins (and the local operator) only.
	ownerOnly scopeDecision = iota
	// teamScoped: team roles too; the fleet layer limits each to its
	// teams' machines and tokens.
	teamScoped
)

func (d scopeDecision) String() string {
	if d == teamScoped {
		return "team"
	}
	return "owner"
}

// ScopeDecisions returns every admin route of the public handler with who
// may use it ("owner" or "team").
func (s *Server) ScopeDecisions() map[string]string {
	s.routes(false)
	out := map[string]string{}
	for p, d := range s.scopes {
		out[p] = d.String()
	}
	return out
}

// ownersOnly refuses team roles before h runs: fleet.Allow's decision
// for everything only owners do.
func (s *Server) ownersOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fleet.Allow(adminFrom(r.Context()), fleet.ActOwner, fleet.Target{}); err != nil {
			s.writeError(w, r, err)
			return
		}
		h(w, r)
	}
}

func (s *Server) listTeams(w http.ResponseWriter, r *http.Request) {
	ts, err := s.fl.Teams(r.Context(), adminFrom(r.Context()))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ts == nil {
		ts = []wire.Team{}
	}
	writeJSON(w, http.StatusOK, ts)
}

func (s *Server) putTeam(w http.ResponseWriter, r *http.Request) {
	var req wire.PutTeamRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.fl.PutTeam(r.Context(), adminFrom(r.Context()), r.PathValue("name"), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) deleteTeam(w http.ResponseWriter, r *http.Request) {
	if err := s.fl.DeleteTeam(r.Context(), adminFrom(r.Context()), r.PathValue("name")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
