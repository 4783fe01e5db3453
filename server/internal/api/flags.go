package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

func factsOf(m wire.Machine) wire.MachineFacts {
	tags := m.Tags
	if tags == nil {
		tags = []string{}
	}
	return wire.MachineFacts{ID: m.ID, Name: m.Name, Tags: tags, OS: m.OS, Arch: m.Arch, AgentVersion: m.AgentVersion}
}

// etag identifies what an agent's flag set depends on: the flags version
// and the machine's own facts (renaming or re-tagging changes results).
func etag(v int64, f wire.MachineFacts) string {
	b, _ := json.Marshal(f)
	sum := sha256.Sum256(b)
	return `"` + strconv.FormatInt(v, 10) + "-" + hex.EncodeToString(sum[:6]) + `"`
}

// agentFlags serves the machine's flag set with an ETag. With a matching
// If-None-Match it answers 304, after holding up to ?wait seconds for a
// change — so a change reaches online agents within about a second.
func (s *Server) agentFlags(w http.ResponseWriter, r *http.Request) {
	m := machineFrom(r.Context())
	facts := factsOf(m)
	wait := time.Duration(0)
	if v := r.URL.Query().Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "wait must be a number of seconds"))
			return
		}
		wait = min(time.Duration(n)*time.Second, s.cfg.MaxWait)
	}
	inm := r.Header.Get("If-None-Match")
	ver, wake := s.fl.Flags().Current()
	if inm != "" && inm == etag(ver, facts) && wait > 0 {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + 15*time.Second))
		if !s.hold(r.Context(), m.ID, wait, wake) {
			s.writeError(w, r, s.gone(r.Context(), m))
			return
		}
		ver, _ = s.fl.Flags().Current()
	}
	if inm != "" && inm == etag(ver, facts) {
		w.Header().Set("ETag", inm)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	fl, v, err := s.fl.FlagsFor(r.Context(), m)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.fl.Flags().Set(v)
	w.Header().Set("ETag", etag(v, facts))
	writeJSON(w, http.StatusOK, wire.FlagSet{Version: v, Machine: facts, Flags: fl})
}

func (s *Server) listFlags(w http.ResponseWriter, r *http.Request) {
	fl, _, err := s.fl.ListFlags(r.Context(), adminFrom(r.Context()))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, fl)
}

func (s *Server) getFlag(w http.ResponseWriter, r *http.Request) {
	f, err := s.fl.Flag(r.Context(), adminFrom(r.Context()), r.PathValue("key"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (s *Server) putFlag(w http.ResponseWriter, r *http.Request) {
	var f wire.Flag
	if err := decodeJSON(w, r, &f); err != nil {
		s.writeError(w, r, err)
		return
	}
	if f.Key == "" {
		f.Key = r.PathValue("key")
	}
	if f.Key != r.PathValue("key") {
		s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "the key in the body (%q) differs from the path", clip(f.Key)))
		return
	}
	saved, err := s.fl.SetFlag(r.Context(), adminFrom(r.Context()), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, saved)
}

func (s *Server) deleteFlag(w http.ResponseWriter, r *http.Request) {
	if err := s.fl.DeleteFlag(r.Context(), adminFrom(r.Context()), r.PathValue("key")); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.writeError(w, r, wire.Errorf(wire.CodeNotFound, "no flag %q", clip(r.PathValue("key"))))
			return
		}
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
