package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/releasestore"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

func (s *Server) releasesOrErr(w http.ResponseWriter, r *http.Request) *releasestore.Store {
	rs := s.fl.Releases()
	if rs == nil {
		s.writeError(w, r, wire.Errorf(wire.CodeNotFound, "this server does not host releases"))
	}
	return rs
}

// uploadFile stores a release binary (raw body, up to releasestore.MaxFile).
func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(30 * time.Minute))
	sum, n, err := s.fl.UploadReleaseFile(r.Context(), adminFrom(r.Context()), r.PathValue("name"), http.MaxBytesReader(w, r.Body, releasestore.MaxFile+1))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"file": r.PathValue("name"), "sha256": sum, "size": n})
}

func (s *Server) publishKeys(w http.ResponseWriter, r *http.Request) {
	var req wire.PublishKeysRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.fl.PublishKeys(r.Context(), adminFrom(r.Context()), req); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) publishManifest(w http.ResponseWriter, r *http.Request) {
	var req wire.PublishManifestRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.fl.PublishManifest(r.Context(), adminFrom(r.Context()), r.PathValue("channel"), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) listReleases(w http.ResponseWriter, r *http.Request) {
	rs := s.releasesOrErr(w, r)
	if rs == nil {
		return
	}
	ms, err := rs.Channels()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info := wire.ReleasesInfo{Channels: []json.RawMessage{}, Versions: map[string]int{}}
	for _, m := range ms {
		b, _ := json.Marshal(m)
		info.Channels = append(info.Channels, b)
	}
	machines, err := s.db.ListMachines(r.Context(), store.MachineFilter{State: wire.MachineActive})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, m := range machines {
		info.Versions[m.AgentVersion]++
	}
	if info.Updates, err = s.db.RecentUpdates(r.Context(), 50); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) pauseChannel(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if action != "pause" && action != "resume" {
		s.writeError(w, r, wire.Errorf(wire.CodeNotFound, "use /pause or /resume"))
		return
	}
	if err := s.fl.PauseRollout(r.Context(), adminFrom(r.Context()), r.PathValue("channel"), action == "pause"); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
