package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/secret"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// machineAuth admits requests carrying a live machine credential. A revoked
// machine's credential gets machine_revoked, so its agent knows to tear
// down rather than retry.
func (s *Server) machineAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			s.writeError(w, r, wire.Errorf(wire.CodeUnauthenticated, "missing Authorization: Bearer wfm_… header"))
			return
		}
		if !secret.WellFormed(tok, wire.PrefixMachineCred) {
			s.writeError(w, r, wire.Errorf(wire.CodeUnauthenticated, "malformed machine credential"))
			return
		}
		m, err := s.db.MachineByCredential(r.Context(), secret.Hash(tok))
		if errors.Is(err, store.ErrNotFound) {
			s.writeError(w, r, wire.Errorf(wire.CodeUnauthenticated, "unknown machine credential"))
			return
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if m.State != wire.MachineActive {
			s.writeError(w, r, wire.Errorf(wire.CodeMachineRevoked, "machine %s has been revoked by an admin", m.Name))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyMachine, m)))
	})
}

// adminAuth admits requests carrying a live admin API key.
func (s *Server) adminAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			s.writeError(w, r, wire.Errorf(wire.CodeUnauthenticated, "missing Authorization: Bearer wfa_… header"))
			return
		}
		if !secret.WellFormed(tok, wire.PrefixAdminKey) {
			s.writeError(w, r, wire.Errorf(wire.CodeUnauthenticated, "malformed admin API key"))
			return
		}
		ad, err := s.db.AdminByAPIKey(r.Context(), secret.Hash(tok))
		if errors.Is(err, store.ErrNotFound) {
			s.writeError(w, r, wire.Errorf(wire.CodeUnauthenticated, "unknown, expired or revoked admin API key"))
			return
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		a := store.Actor{Name: "admin:" + ad.Name, SourceIP: clientIP(r)}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyAdmin, a)))
	})
}

// localAdmin marks requests from the Unix socket as the local operator. The
// socket is root-only (0600 in a 0700 directory), so reaching it is the
// authentication, as with headscale's CLI.
func (s *Server) localAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := store.Actor{Name: "local:cli", SourceIP: "unix"}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyAdmin, a)))
	})
}
