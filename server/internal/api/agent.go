package api

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/secret"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// validateEnroll checks an enrollment request without touching the
// database and returns the store's view of it.
func validateEnroll(req *wire.EnrollRequest) (store.Enrollment, error) {
	var e store.Enrollment
	if !secret.WellFormed(req.Token, wire.PrefixEnrollToken) {
		return e, wire.Errorf(wire.CodeTokenInvalid, "enrollment token is malformed (expected wfe_ followed by 52 characters)")
	}
	if err := wire.ValidatePublicKey(req.PublicKey); err != nil {
		return e, err
	}
	if err := wire.ValidateFact("hostname", req.Hostname, wire.MaxHostnameLen, true); err != nil {
		return e, err
	}
	for _, f := range []struct {
		name, val string
		required  bool
	}{{"os", req.OS, true}, {"arch", req.Arch, true}, {"os_version", req.OSVersion, false}, {"agent_version", req.AgentVersion, true}} {
		if err := wire.ValidateFact(f.name, f.val, wire.MaxFactLen, f.required); err != nil {
			return e, err
		}
	}
	name := req.Name
	if name != "" {
		if err := wire.ValidateName(name); err != nil {
			return e, err
		}
	} else if name = wire.SanitizeName(req.Hostname); name == "" {
		name = "machine"
	}
	eps, err := wire.ValidateEndpoints(req.Endpoints)
	if err != nil {
		return e, err
	}
	if req.ListenPort < 0 || req.ListenPort > 65535 {
		return e, wire.Errorf(wire.CodeInvalidArgument, "listen_port must be 0–65535")
	}
	return store.Enrollment{
		TokenHash: secret.Hash(req.Token), PublicKey: req.PublicKey, Hostname: req.Hostname, Name: name,
		OS: req.OS, OSVersion: req.OSVersion, Arch: req.Arch, AgentVersion: req.AgentVersion, Endpoints: eps,
	}, nil
}

// withObserved adds the source address the server saw, paired with the
// agent's WireGuard port, to the endpoints the agent reported.
func withObserved(eps []string, r *http.Request, port int) []string {
	if port == 0 {
		return eps
	}
	ip, err := netip.ParseAddr(clientIP(r))
	if err != nil || ip.IsUnspecified() {
		return eps
	}
	obs := netip.AddrPortFrom(ip.Unmap(), uint16(port)).String()
	for _, e := range eps {
		if e == obs {
			return eps
		}
	}
	if len(eps) >= wire.MaxEndpoints {
		eps = eps[:wire.MaxEndpoints-1]
	}
	return append(append([]string{}, eps...), obs)
}

func (s *Server) enroll(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	if s.lim != nil && !s.lim.Allow(ip, s.now()) {
		s.m.enrollments.WithLabelValues(string(wire.CodeRateLimited)).Inc()
		s.writeError(w, r, wire.Errorf(wire.CodeRateLimited, "too many enrollment attempts from %s; try again in a minute", ip))
		return
	}
	var req wire.EnrollRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.m.enrollments.WithLabelValues(string(wire.ErrorCode(err))).Inc()
		s.writeError(w, r, err)
		return
	}
	e, err := validateEnroll(&req)
	if err != nil {
		s.m.enrollments.WithLabelValues(string(wire.ErrorCode(err))).Inc()
		s.writeError(w, r, err)
		return
	}
	e.Endpoints = withObserved(e.Endpoints, r, req.ListenPort)
	cred, credHash := secret.New(wire.PrefixMachineCred)
	e.CredentialHash = credHash
	m, ch, err := s.db.Enroll(r.Context(), store.Actor{SourceIP: ip}, e)
	if err != nil {
		code := wire.ErrorCode(err)
		s.m.enrollments.WithLabelValues(string(code)).Inc()
		if code != wire.CodeInternal {
			// Refusals are security events: keep them in the audit log.
			_ = s.db.Audit(context.WithoutCancel(r.Context()), store.Actor{Name: "anonymous", SourceIP: ip}, "machine.enroll_refused",
				"", map[string]any{"code": string(code), "hostname": req.Hostname})
		}
		s.writeError(w, r, err)
		return
	}
	if err := s.hub.Sync(r.Context(), ch.Version); err != nil {
		s.writeError(w, r, err)
		return
	}
	nm, ok := s.hub.Reply(m.ID, 0)
	if !ok {
		s.writeError(w, r, wire.Errorf(wire.CodeMachineRevoked, "machine %s was removed during enrollment", m.Name))
		return
	}
	s.m.enrollments.WithLabelValues("ok").Inc()
	s.log.Info("machine enrolled", "machine", m.ID, "name", m.Name, "ipv4", m.IPv4, "source", ip)
	// A wire.EnrollResponse whose "netmap" is streamed from the shared,
	// pre-encoded map rather than encoded again for every enrollment.
	head, err := json.Marshal(struct {
		MachineID  string `json:"machine_id"`
		Name       string `json:"name"`
		IPv4       string `json:"ipv4"`
		IPv6       string `json:"ipv6"`
		Credential string `json:"credential"`
	}{m.ID, m.Name, m.IPv4, m.IPv6, cred})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	setJSONHeaders(w)
	w.WriteHeader(http.StatusOK)
	w.Write(append(head[:len(head)-1], `,"netmap":`...))
	nm.WriteObject(w)
	w.Write([]byte("}\n"))
}

// netmap answers at once when the map changed after ?since, else holds the
// request until it does (or ?wait seconds, at most MaxWait, pass). A
// revocation or deletion of the caller answers its held poll with
// machine_revoked at once.
func (s *Server) netmap(w http.ResponseWriter, r *http.Request) {
	m := machineFrom(r.Context())
	q := r.URL.Query()
	var since uint64
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "since must be a map version number"))
			return
		}
		since = n
	}
	wait := s.cfg.MaxWait
	if v := q.Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "wait must be a number of seconds"))
			return
		}
		if d := time.Duration(n) * time.Second; d < wait {
			wait = d
		}
	}
	release := s.hub.Connect(m.ID)
	defer release()
	s.hub.Seen(m.ID, s.now())

	if wait > 0 {
		// Spread the timeouts so that agents that connected together do not
		// come back together forever.
		wait -= time.Duration(rand.Int64N(int64(wait) / 10))
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + 15*time.Second))
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		s.hub.Wait(ctx, m.ID, since) // at once if the agent is behind
		cancel()
	}
	nm, ok := s.hub.Reply(m.ID, since)
	if !ok {
		s.writeError(w, r, wire.Errorf(wire.CodeMachineRevoked, "machine %s has been revoked or deleted by an admin", m.Name))
		return
	}
	setJSONHeaders(w)
	w.WriteHeader(http.StatusOK)
	nm.WriteTo(w)
}

func (s *Server) endpoints(w http.ResponseWriter, r *http.Request) {
	m := machineFrom(r.Context())
	var req wire.EndpointsRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	eps, err := wire.ValidateEndpoints(req.Endpoints)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.ListenPort < 0 || req.ListenPort > 65535 {
		s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "listen_port must be 0–65535"))
		return
	}
	eps = withObserved(eps, r, req.ListenPort)
	ch, changed, err := s.db.SetEndpoints(r.Context(), m.ID, eps)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if changed {
		if err := s.hub.Sync(r.Context(), ch.Version); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, wire.EndpointsRequest{Endpoints: eps, ListenPort: req.ListenPort})
}

func (s *Server) rekey(w http.ResponseWriter, r *http.Request) {
	m := machineFrom(r.Context())
	var req wire.RekeyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := wire.ValidatePublicKey(req.PublicKey); err != nil {
		s.writeError(w, r, err)
		return
	}
	m, ch, err := s.db.Rekey(r.Context(), store.Actor{Name: "machine:" + m.ID, SourceIP: clientIP(r)}, m.ID, req.PublicKey)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.hub.Sync(r.Context(), ch.Version); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// logout lets an agent leave: its machine is revoked (kept for the admin,
// with the audit event naming the machine itself as the actor).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	m := machineFrom(r.Context())
	_, ch, err := s.db.RevokeMachine(r.Context(), store.Actor{Name: "machine:" + m.ID, SourceIP: clientIP(r)}, m.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.hub.Sync(r.Context(), ch.Version); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.Info("machine logged out", "machine", m.ID, "name", m.Name)
	w.WriteHeader(http.StatusNoContent)
}
