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

// etag identifies what an agent's flag set says: each of its flags'
// versions and the machine's own facts (renaming or re-tagging changes
// results) — not the fleet's flags version, so a change to another team's
// flag leaves the machine's poll held and its set where it is.
func etag(fl []wire.Flag, f wire.MachineFacts) string {
	h := sha256.New()
	b, _ := json.Marshal(f)
	h.Write(b)
	for _, x := range fl {
		h.Write([]byte(x.Key))
		h.Write([]byte{0})
		h.Write(strconv.AppendInt(nil, x.Version, 10))
		h.Write([]byte{0})
	}
	return `"` + hex.EncodeToString(h.Sum(nil)[:12]) + `"`
}

// agentFlags serves the machine's flag set with an ETag. With a matching
// If-None-Match it answers 304, after holding up to ?wait seconds for a
// change of its set — so a change reaches online agents within about a
// second, and only those whose set it changes.
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
	_, wake := s.fl.Flags().Current()
	sn, err := s.ofrep.snapshot(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	fl := sn.forMachine(m)
	tag := etag(fl, facts)
	if inm != "" && inm == tag && wait > 0 {
		deadline := time.Now().Add(wait)
		_ = http.NewResponseController(w).SetWriteDeadline(deadline.Add(15 * time.Second))
		for inm == tag {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			if !s.hold(r.Context(), m.ID, left, wake) {
				s.writeError(w, r, s.gone(r.Context(), m))
				return
			}
			if r.Context().Err() != nil || s.hub.Closed() {
				break
			}
			_, wake = s.fl.Flags().Current()
			if sn, err = s.ofrep.snapshot(r.Context()); err != nil {
				s.writeError(w, r, err)
				return
			}
			fl = sn.forMachine(m)
			tag = etag(fl, facts)
		}
	}
	if inm != "" && inm == tag {
		w.Header().Set("ETag", inm)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", tag)
	writeJSON(w, http.StatusOK, wire.FlagSet{Version: sn.version, Machine: facts, Flags: fl})
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
