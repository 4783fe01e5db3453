package api

import (
	"net/http"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

func (s *Server) listDNSRecords(w http.ResponseWriter, r *http.Request) {
	out, err := s.fl.DNSRecords(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) addDNSRecord(w http.ResponseWriter, r *http.Request) {
	var req wire.DNSRecord
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.CreatedBy != "" || req.CreatedAt != nil {
		s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "created_by and created_at are set by the server"))
		return
	}
	rec, err := s.fl.AddDNSRecord(r.Context(), adminFrom(r.Context()), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, rec)
}

func (s *Server) removeDNSRecords(w http.ResponseWriter, r *http.Request) {
	removed, err := s.fl.RemoveDNSRecords(r.Context(), adminFrom(r.Context()), r.PathValue("name"), r.URL.Query().Get("type"), r.URL.Query().Get("value"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.DNSRecordsResponse{Records: removed})
}
