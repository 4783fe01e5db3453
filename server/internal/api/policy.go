package api

import (
	"net/http"

	"github.com/wirefleet/wirefleet/pkg/policy"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// maxPolicyBody fits the largest policy (1 MiB) with JSON escaping.
const maxPolicyBody = 3 * policy.MaxSize

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) {
	p, err := s.fl.Policy(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request) {
	var req wire.PutPolicyRequest
	if err := decodeLimit(http.MaxBytesReader(w, r.Body, maxPolicyBody), &req, maxPolicyBody); err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.fl.SetPolicy(r.Context(), adminFrom(r.Context()), req.Text, req.DryRun)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) queryPolicy(w http.ResponseWriter, r *http.Request) {
	var q wire.PolicyQuery
	if err := decodeJSON(w, r, &q); err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.fl.QueryPolicy(r.Context(), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}
