package api

import (
	"net/http"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

func (s *Server) createFlagClient(w http.ResponseWriter, r *http.Request) {
	var req wire.CreateFlagClientRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	resp, err := s.fl.CreateFlagClient(r.Context(), adminFrom(r.Context()), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) listFlagClients(w http.ResponseWriter, r *http.Request) {
	cs, err := s.fl.FlagClients(r.Context(), adminFrom(r.Context()))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, cs)
}

func (s *Server) updateFlagClient(w http.ResponseWriter, r *http.Request) {
	var req wire.UpdateFlagClientRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.fl.UpdateFlagClient(r.Context(), adminFrom(r.Context()), r.PathValue("name"), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) deleteFlagClient(w http.ResponseWriter, r *http.Request) {
	if err := s.fl.DeleteFlagClient(r.Context(), adminFrom(r.Context()), r.PathValue("name")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) rotateFlagClientKey(w http.ResponseWriter, r *http.Request) {
	resp, err := s.fl.RotateFlagClientKey(r.Context(), adminFrom(r.Context()), r.PathValue("name"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) revokeFlagClientKey(w http.ResponseWriter, r *http.Request) {
	c, err := s.fl.RevokeFlagClientKey(r.Context(), adminFrom(r.Context()), r.PathValue("name"), r.PathValue("key"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) bulkFlagClients(w http.ResponseWriter, r *http.Request) {
	var req wire.BulkFlagClientsRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	resp, err := s.fl.BulkFlagClients(r.Context(), adminFrom(r.Context()), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) flagUsage(w http.ResponseWriter, r *http.Request) {
	u, err := s.fl.FlagUsage(r.Context(), adminFrom(r.Context()), r.PathValue("key"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}
