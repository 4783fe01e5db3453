package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/secret"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

func (s *Server) serverInfo(w http.ResponseWriter, r *http.Request) {
	var info wire.ServerInfo
	if s.info != nil {
		info = s.info()
	}
	info.NetmapVer = s.hub.Version()
	info.Machines = s.hub.Len()
	info.Connected = s.hub.Connected()
	writeJSON(w, http.StatusOK, info)
}

// maxTokenTTL bounds token lifetimes: a forgotten reusable token should not
// enroll machines years later.
const maxTokenTTL = 366 * 24 * time.Hour

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req wire.CreateTokenRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	tags, err := wire.ValidateTags(req.Tags)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.MaxUses < 0 || req.MaxUses > 1_000_000 {
		s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "max_uses must be 0–1000000"))
		return
	}
	if req.MaxUses > 1 && !req.Reusable {
		s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "max_uses above 1 needs a reusable token"))
		return
	}
	ttl := s.cfg.DefaultTokenTTL
	if req.ExpiresIn != "" {
		if ttl, err = fmtDuration(req.ExpiresIn); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if ttl <= 0 || ttl > maxTokenTTL {
		s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "expiry must be between 1s and %s", maxTokenTTL))
		return
	}
	exp := s.now().Add(ttl).UTC()
	sec, hash := secret.New(wire.PrefixEnrollToken)
	t, err := s.db.CreateToken(r.Context(), adminFrom(r.Context()), store.NewToken{
		Prefix: secret.Display(sec), Hash: hash, Reusable: req.Reusable, Ephemeral: req.Ephemeral,
		MaxUses: req.MaxUses, Tags: tags, ExpiresAt: &exp,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, wire.CreateTokenResponse{Token: t, Secret: sec})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.db.ListTokens(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ts)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	t, err := s.db.RevokeToken(r.Context(), adminFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// decorate fills in what only the live server knows: whether a machine is
// online right now.
func (s *Server) decorate(m *wire.Machine) { m.Online = s.hub.Online(*m, s.now()) }

func (s *Server) listMachines(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.MachineFilter{State: q.Get("state"), Tag: q.Get("tag"), Name: q.Get("name")}
	switch f.State {
	case "", wire.MachineActive, wire.MachineRevoked, "online", "offline":
	default:
		s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "state must be active, revoked, online or offline"))
		return
	}
	want := f.State
	if want == "online" || want == "offline" {
		f.State = wire.MachineActive
	}
	ms, err := s.db.ListMachines(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := ms[:0]
	for i := range ms {
		s.decorate(&ms[i])
		if (want == "online" && !ms[i].Online) || (want == "offline" && ms[i].Online) {
			continue
		}
		out = append(out, ms[i])
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getMachine(w http.ResponseWriter, r *http.Request) {
	m, err := s.db.Machine(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.decorate(&m)
	writeJSON(w, http.StatusOK, m)
}

// mutated finishes a machine change: wait until the hub reflects it (so
// long-polls have been woken) and answer with the machine.
func (s *Server) mutated(w http.ResponseWriter, r *http.Request, m wire.Machine, ch store.Change, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.hub.Sync(r.Context(), ch.Version); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.decorate(&m)
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) updateMachine(w http.ResponseWriter, r *http.Request) {
	var req wire.UpdateMachineRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Name != nil {
		if err := wire.ValidateName(*req.Name); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if req.Tags != nil {
		tags, err := wire.ValidateTags(*req.Tags)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		req.Tags = &tags
	}
	if req.PinnedVersion != nil && *req.PinnedVersion != "" {
		if err := wire.ValidateVersion(*req.PinnedVersion); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if req.Name == nil && req.Tags == nil && req.PinnedVersion == nil {
		s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "nothing to change: give name, tags and/or pinned_version"))
		return
	}
	var (
		m   wire.Machine
		ch  store.Change
		err error
	)
	if req.Name != nil || req.Tags != nil {
		m, ch, err = s.db.UpdateMachine(r.Context(), adminFrom(r.Context()), r.PathValue("id"), req.Name, req.Tags)
	}
	if err == nil && req.PinnedVersion != nil {
		id := r.PathValue("id")
		if m.ID != "" {
			id = m.ID // the name may just have changed
		}
		m, ch, err = s.db.PinVersion(r.Context(), adminFrom(r.Context()), id, *req.PinnedVersion)
	}
	s.mutated(w, r, m, ch, err)
}

func (s *Server) revokeMachine(w http.ResponseWriter, r *http.Request) {
	m, ch, err := s.db.RevokeMachine(r.Context(), adminFrom(r.Context()), r.PathValue("id"))
	if err == nil {
		s.log.Info("machine revoked", "machine", m.ID, "name", m.Name, "by", adminFrom(r.Context()).Name)
	}
	s.mutated(w, r, m, ch, err)
}

func (s *Server) deleteMachine(w http.ResponseWriter, r *http.Request) {
	m, ch, err := s.db.DeleteMachine(r.Context(), adminFrom(r.Context()), r.PathValue("id"))
	if err == nil {
		s.log.Info("machine deleted", "machine", m.ID, "name", m.Name, "by", adminFrom(r.Context()).Name)
	}
	s.mutated(w, r, m, ch, err)
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.AuditFilter{Action: q.Get("action"), Target: q.Get("target"), Actor: q.Get("actor")}
	for name, dst := range map[string]*int64{"before": &f.Before} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "%s must be a non-negative number", name))
				return
			}
			*dst = n
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "limit must be 1–1000"))
			return
		}
		f.Limit = n
	}
	page, err := s.db.ListAudit(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) {
	var req wire.CreateAPIKeyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	a := adminFrom(r.Context())
	owner := req.Admin
	if owner == "" {
		if len(a.Name) > 6 && a.Name[:6] == "admin:" {
			owner = a.Name[6:]
		} else {
			s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "admin is required over the local socket"))
			return
		}
	}
	var exp *time.Time
	if req.ExpiresIn != "" {
		d, err := fmtDuration(req.ExpiresIn)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if d <= 0 {
			s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "expiry must be positive"))
			return
		}
		t := s.now().Add(d).UTC()
		exp = &t
	}
	sec, hash := secret.New(wire.PrefixAdminKey)
	k, err := s.db.CreateAPIKey(r.Context(), a, owner, store.NewAPIKey{Prefix: secret.Display(sec), Hash: hash, ExpiresAt: exp})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, wire.CreateAPIKeyResponse{Key: k, Secret: sec})
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := s.db.ListAPIKeys(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ks)
}

func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request) {
	if err := s.db.RevokeAPIKey(r.Context(), adminFrom(r.Context()), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) createAdmin(w http.ResponseWriter, r *http.Request) {
	var req wire.CreateAdminRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := wire.ValidateName(req.Name); err != nil {
		s.writeError(w, r, err)
		return
	}
	resp, err := CreateAdmin(r.Context(), s.db, adminFrom(r.Context()), req.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) listAdmins(w http.ResponseWriter, r *http.Request) {
	as, err := s.db.ListAdmins(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, as)
}

func (s *Server) deleteAdmin(w http.ResponseWriter, r *http.Request) {
	if err := s.db.DeleteAdmin(r.Context(), adminFrom(r.Context()), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// CreateAdmin makes an admin with a random password (bcrypt-hashed: people
// choose passwords, so they get a slow hash) and a first API key, and
// returns both secrets once. The server calls it on first start.
func CreateAdmin(ctx context.Context, db *store.DB, a store.Actor, name string) (wire.CreateAdminResponse, error) {
	pw, ph, err := newPassword()
	if err != nil {
		return wire.CreateAdminResponse{}, err
	}
	key, keyHash := secret.New(wire.PrefixAdminKey)
	ad, err := db.CreateAdmin(ctx, a, name, string(ph), store.NewAPIKey{Prefix: secret.Display(key), Hash: keyHash})
	if err != nil {
		return wire.CreateAdminResponse{}, err
	}
	return wire.CreateAdminResponse{Admin: ad, Password: pw, APIKey: key}, nil
}

// newPassword returns a random password (120 bits, easy to paste) and its
// bcrypt hash.
func newPassword() (string, string, error) {
	pw, _ := secret.New("")
	pw = pw[:24]
	ph, err := bcrypt.GenerateFromPassword([]byte(pw), BcryptCost)
	if err != nil {
		return "", "", fmt.Errorf("hash password: %w", err)
	}
	return pw, string(ph), nil
}

// BcryptCost is the work factor for admin passwords (~250 ms here).
var BcryptCost = 12

// setPassword gives an admin a new random password and ends its sessions.
func (s *Server) setPassword(w http.ResponseWriter, r *http.Request) {
	pw, ph, err := newPassword()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ad, err := s.db.SetAdminPassword(r.Context(), adminFrom(r.Context()), r.PathValue("id"), ph)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.PasswordResponse{Admin: ad, Password: pw})
}
