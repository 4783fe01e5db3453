package api

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/fleet"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

func (s *Server) serverInfo(w http.ResponseWriter, r *http.Request) {
	var info wire.ServerInfo
	if s.info != nil {
		info = s.info()
	}
	info.NetmapVer = s.hub.Version()
	info.Machines = s.hub.Len()
	info.Connected = s.pres.Connected()
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req wire.CreateTokenRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	spec := fleet.TokenSpec{Reusable: req.Reusable, Ephemeral: req.Ephemeral, MaxUses: req.MaxUses, Tags: req.Tags, Owner: req.Owner}
	if req.ExpiresIn != "" {
		ttl, err := fleet.ParseTTL(req.ExpiresIn)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		spec.TTL = ttl
	}
	if req.MachineExpiry != "" {
		d, err := fleet.ParseTTL(req.MachineExpiry)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		spec.MachineExpiry = d
	}
	t, sec, err := s.fl.CreateToken(r.Context(), adminFrom(r.Context()), spec)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, wire.CreateTokenResponse{Token: t, Secret: sec})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.fl.ListTokens(r.Context(), adminFrom(r.Context()))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ts)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	t, err := s.fl.RevokeToken(r.Context(), adminFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// decorate fills in what only the live server knows: whether a machine is
// online right now.
func (s *Server) decorate(m *wire.Machine) { m.Online = s.pres.Online(*m, s.now()) }

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
	type factIs struct{ key, value string }
	var facts []factIs
	for _, ff := range q["fact"] {
		k, v, err := wire.ParseFactFilter(ff)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		facts = append(facts, factIs{k, v})
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "format must be json or csv"))
		return
	}
	ms, err := s.fl.ListMachines(r.Context(), adminFrom(r.Context()), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := ms[:0]
next:
	for i := range ms {
		s.decorate(&ms[i])
		if (want == "online" && !ms[i].Online) || (want == "offline" && ms[i].Online) {
			continue
		}
		for _, fi := range facts {
			if v, ok := ms[i].Facts.Value(fi.key); !ok || v != fi.value {
				continue next
			}
		}
		out = append(out, ms[i])
	}
	if format == "csv" {
		writeInventoryCSV(w, out)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// writeInventoryCSV writes the machines' inventory: name, addresses,
// state, then every fact (wire.FactKeys), one machine a row. Cells that
// a spreadsheet would run as a formula are quoted with a leading '.
func writeInventoryCSV(w http.ResponseWriter, ms []wire.Machine) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="wirefleet-inventory.csv"`)
	cw := csv.NewWriter(w)
	cw.Write(append([]string{"name", "id", "ipv4", "ipv6", "state", "online", "tags", "facts_at"}, wire.FactKeys...))
	for _, m := range ms {
		at := ""
		if m.FactsAt != nil {
			at = m.FactsAt.UTC().Format(time.RFC3339)
		}
		row := []string{m.Name, m.ID, m.IPv4, m.IPv6, m.State, strconv.FormatBool(m.Online), strings.Join(m.Tags, " "), at}
		for _, k := range wire.FactKeys {
			v, _ := m.Facts.Value(k)
			row = append(row, v)
		}
		for i, c := range row {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				row[i] = "'" + c
			}
		}
		cw.Write(row)
	}
	cw.Flush()
}

func (s *Server) getMachine(w http.ResponseWriter, r *http.Request) {
	m, err := s.fl.Machine(r.Context(), adminFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if m.Updates, err = s.db.UpdateHistory(r.Context(), m.ID, 20); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.decorate(&m)
	writeJSON(w, http.StatusOK, m)
}

// mutated answers a machine change (which the service has already made
// visible to every agent's long-poll).
func (s *Server) mutated(w http.ResponseWriter, r *http.Request, m wire.Machine, err error) {
	if err != nil {
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
	m, err := s.fl.UpdateMachine(r.Context(), adminFrom(r.Context()), r.PathValue("id"),
		fleet.MachineUpdate{Name: req.Name, Tags: req.Tags, PinnedVersion: req.PinnedVersion, Expiry: req.Expiry, Owner: req.Owner})
	s.mutated(w, r, m, err)
}

func (s *Server) revokeMachine(w http.ResponseWriter, r *http.Request) {
	m, err := s.fl.RevokeMachine(r.Context(), adminFrom(r.Context()), r.PathValue("id"))
	s.mutated(w, r, m, err)
}

func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request) {
	m, err := s.fl.RequestKeyRotation(r.Context(), adminFrom(r.Context()), r.PathValue("id"))
	s.mutated(w, r, m, err)
}

func (s *Server) rotateAllKeys(w http.ResponseWriter, r *http.Request) {
	n, err := s.fl.RequestKeyRotationAll(r.Context(), adminFrom(r.Context()))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.RotateKeysResponse{Machines: n})
}

func (s *Server) deleteMachine(w http.ResponseWriter, r *http.Request) {
	m, err := s.fl.DeleteMachine(r.Context(), adminFrom(r.Context()), r.PathValue("id"))
	s.mutated(w, r, m, err)
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
	page, err := s.fl.ListAudit(r.Context(), adminFrom(r.Context()), f)
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
	var ttl time.Duration
	if req.ExpiresIn != "" {
		d, err := fleet.ParseTTL(req.ExpiresIn)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		ttl = d
	}
	resp, err := s.fl.CreateAPIKey(r.Context(), adminFrom(r.Context()), req.Admin, ttl)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := s.fl.ListAPIKeys(r.Context(), adminFrom(r.Context()))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ks)
}

func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request) {
	if err := s.fl.RevokeAPIKey(r.Context(), adminFrom(r.Context()), r.PathValue("id")); err != nil {
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
	resp, err := s.fl.CreateAdmin(r.Context(), adminFrom(r.Context()), req.Name)
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
	if err := s.fl.DeleteAdmin(r.Context(), adminFrom(r.Context()), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// setPassword gives an admin a new random password and ends its sessions.
func (s *Server) setPassword(w http.ResponseWriter, r *http.Request) {
	resp, err := s.fl.ResetPassword(r.Context(), adminFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) rotateTLS(w http.ResponseWriter, r *http.Request) {
	var req wire.TLSRotateRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	resp, err := s.fl.RotateTLS(r.Context(), adminFrom(r.Context()), s.cfg.TLS, req.Force)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) secretsStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.fl.SecretsStatus()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) sealSecrets(w http.ResponseWriter, r *http.Request) {
	st, err := s.fl.SealSecrets(r.Context(), adminFrom(r.Context()))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) rotateSecret(w http.ResponseWriter, r *http.Request) {
	var req wire.RotateSecretRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	resp, err := s.fl.RotateSecret(r.Context(), adminFrom(r.Context()), s.cfg.TLS, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) listEnrollments(w http.ResponseWriter, r *http.Request) {
	ps, err := s.db.ListPending(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]wire.PendingEnrollment, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.PendingEnrollment)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) decideEnrollment(w http.ResponseWriter, r *http.Request) {
	var approve bool
	switch r.PathValue("decision") {
	case "approve":
		approve = true
	case "deny":
	default:
		s.writeError(w, r, wire.Errorf(wire.CodeNotFound, "decide with …/approve or …/deny"))
		return
	}
	p, err := s.fl.DecideEnrollment(r.Context(), adminFrom(r.Context()), strings.ToUpper(r.PathValue("code")), approve)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p.PendingEnrollment)
}
