package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/remoteaddr"
	"github.com/wirefleet/wirefleet/server/internal/scim"
	"github.com/wirefleet/wirefleet/server/internal/secret"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// scimAuth admits an identity provider carrying a live SCIM token; its
// changes are audited as scim:<token prefix>. Refusals are SCIM errors
// (RFC 7644 §3.12), which is what a SCIM client reads.
func (s *Server) scimAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refuse := func(detail string) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wirefleet-scim"`)
			w.Header().Set("Content-Type", "application/scim+json")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"}, "status": "401", "detail": detail})
		}
		tok, ok := bearer(r)
		if !ok {
			refuse("missing Authorization: Bearer wfs_… (a token from `wirefleet-server scim tokens create`)")
			return
		}
		if !secret.WellFormed(tok, wire.PrefixSCIMToken) {
			refuse("malformed SCIM token")
			return
		}
		t, err := s.fl.AuthenticateSCIM(r.Context(), secret.Hash(tok))
		if errors.Is(err, store.ErrNotFound) {
			refuse("unknown or revoked SCIM token")
			return
		}
		if err != nil {
			s.log.Error("scim: authenticate", "err", err)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		a := store.Actor{Name: "scim:" + t.Prefix, SourceIP: remoteaddr.IP(r)}
		next.ServeHTTP(w, r.WithContext(scim.WithActor(r.Context(), a)))
	})
}

func (s *Server) createSCIMToken(w http.ResponseWriter, r *http.Request) {
	resp, err := s.fl.CreateSCIMToken(r.Context(), adminFrom(r.Context()))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) listSCIMTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.db.SCIMTokens(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ts)
}

func (s *Server) revokeSCIMToken(w http.ResponseWriter, r *http.Request) {
	if err := s.fl.RevokeSCIMToken(r.Context(), adminFrom(r.Context()), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// getDirectory answers every person and group.
func (s *Server) getDirectory(w http.ResponseWriter, r *http.Request) {
	people, err := s.db.People(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	groups, err := s.db.Groups(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := wire.Directory{People: make([]wire.Admin, 0, len(people)), Groups: make([]wire.DirectoryGroup, 0, len(groups))}
	for _, p := range people {
		out.People = append(out.People, p.Admin)
	}
	for _, g := range groups {
		out.Groups = append(out.Groups, g.DirectoryGroup)
	}
	writeJSON(w, http.StatusOK, out)
}
