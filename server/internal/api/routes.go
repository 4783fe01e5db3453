package api

import (
	"net/http"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// agentRoutes records what the calling machine advertises.
func (s *Server) agentRoutes(w http.ResponseWriter, r *http.Request) {
	m := machineFrom(r.Context())
	var req wire.RoutesAdvert
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	routes, err := s.fl.AdvertiseRoutes(r.Context(), machineActor(r, m), m.ID, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.RoutesAdvert{Routes: routes, ExitNode: req.ExitNode})
}

// peerRelay answers a relay machine asking whether two machines may use
// it between them (wire.PathAgentPeerRelay).
func (s *Server) peerRelay(w http.ResponseWriter, r *http.Request) {
	var req wire.PeerRelayCheck
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.fl.PeerRelayAllowed(machineFrom(r.Context()), req); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listRoutes(w http.ResponseWriter, r *http.Request) {
	rs, err := s.fl.Routes(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.RoutesResponse{Routes: rs})
}

// decideRoutes approves or rejects a machine's routes: POST
// /api/v1/routes/{machine}/approve|reject.
func (s *Server) decideRoutes(w http.ResponseWriter, r *http.Request) {
	var approve bool
	switch r.PathValue("decision") {
	case "approve":
		approve = true
	case "reject":
	default:
		s.writeError(w, r, wire.Errorf(wire.CodeNotFound, "no API route %s %s: decide with approve or reject", r.Method, r.URL.Path))
		return
	}
	var d wire.RouteDecision
	if err := decodeJSON(w, r, &d); err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.fl.DecideRoutes(r.Context(), adminFrom(r.Context()), r.PathValue("machine"), d, approve)
	s.mutated(w, r, m, err)
}
