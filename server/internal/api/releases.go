package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/releases"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

func (s *Server) releasesOrErr(w http.ResponseWriter, r *http.Request) *releases.Store {
	if s.cfg.Releases == nil {
		s.writeError(w, r, wire.Errorf(wire.CodeNotFound, "this server does not host releases"))
	}
	return s.cfg.Releases
}

// uploadFile stores a release binary (raw body, up to releases.MaxFile).
func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request) {
	rs := s.releasesOrErr(w, r)
	if rs == nil {
		return
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(30 * time.Minute))
	sum, n, err := rs.PutFile(r.PathValue("name"), http.MaxBytesReader(w, r.Body, releases.MaxFile+1))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	_ = s.db.Audit(r.Context(), adminFrom(r.Context()), "release.upload", r.PathValue("name"), map[string]any{"sha256": sum, "size": n})
	writeJSON(w, http.StatusOK, map[string]any{"file": r.PathValue("name"), "sha256": sum, "size": n})
}

func (s *Server) publishKeys(w http.ResponseWriter, r *http.Request) {
	rs := s.releasesOrErr(w, r)
	if rs == nil {
		return
	}
	var req wire.PublishKeysRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := rs.PutKeys(req.RootPublicKey, []byte(req.KeysJSON), []byte(req.Signature)); err != nil {
		s.writeError(w, r, err)
		return
	}
	_ = s.db.Audit(r.Context(), adminFrom(r.Context()), "release.keys", "", nil)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) publishManifest(w http.ResponseWriter, r *http.Request) {
	rs := s.releasesOrErr(w, r)
	if rs == nil {
		return
	}
	var req wire.PublishManifestRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := rs.PutManifest(r.PathValue("channel"), []byte(req.Manifest), []byte(req.Signature))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	_ = s.db.Audit(r.Context(), adminFrom(r.Context()), "release.publish", m.Channel, map[string]any{"version": m.Version, "rollout": m.Rollout, "artifacts": len(m.Artifacts)})
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
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) pauseChannel(w http.ResponseWriter, r *http.Request) {
	rs := s.releasesOrErr(w, r)
	if rs == nil {
		return
	}
	pause := r.PathValue("action") == "pause"
	if r.PathValue("action") != "pause" && r.PathValue("action") != "resume" {
		s.writeError(w, r, wire.Errorf(wire.CodeNotFound, "use /pause or /resume"))
		return
	}
	if err := rs.SetPaused(r.PathValue("channel"), pause); err != nil {
		s.writeError(w, r, err)
		return
	}
	_ = s.db.Audit(r.Context(), adminFrom(r.Context()), "release."+r.PathValue("action"), r.PathValue("channel"), nil)
	w.WriteHeader(http.StatusNoContent)
}
