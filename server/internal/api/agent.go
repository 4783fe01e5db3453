package api

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/fleet"
	"github.com/wirefleet/wirefleet/server/internal/relay"
	"github.com/wirefleet/wirefleet/server/internal/remoteaddr"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

func (s *Server) enroll(w http.ResponseWriter, r *http.Request) {
	ip := remoteaddr.IP(r)
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
	en, err := s.fl.Enroll(r.Context(), remoteaddr.Addr(r), req)
	if err != nil {
		s.m.enrollments.WithLabelValues(string(wire.ErrorCode(err))).Inc()
		s.writeError(w, r, err)
		return
	}
	s.enrolled(w, r, en)
}

// enrolled answers a completed enrollment: the machine's identity, its
// credential (once) and its first map.
func (s *Server) enrolled(w http.ResponseWriter, r *http.Request, en fleet.Enrolled) {
	m, cred := en.Machine, en.Credential
	nm, ok := s.hub.Reply(m.ID, 0)
	if !ok {
		s.writeError(w, r, wire.Errorf(wire.CodeMachineRevoked, "machine %s was removed during enrollment", m.Name))
		return
	}
	s.m.enrollments.WithLabelValues("ok").Inc()
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

// hold holds a long-poll for up to wait, until wake closes, the request
// ends, or the server stops (the hub closes: the caller answers at once and
// its agent reconnects). It returns false when the machine left the map
// meanwhile (revoked or deleted): whatever the poll was waiting for, the
// caller must answer machine_revoked, never data. Every long-poll but the
// network map's (which the hub itself ends) holds through here.
func (s *Server) hold(ctx context.Context, id string, wait time.Duration, wake <-chan struct{}) (active bool) {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		moved := s.hub.Applied() // taken before the check: no move is missed
		if !s.hub.Active(id) {
			return false
		}
		if s.hub.Closed() {
			return true
		}
		select {
		case <-moved: // the map moved: is the machine still in it?
		case <-wake:
			return s.hub.Active(id)
		case <-t.C:
			return s.hub.Active(id)
		case <-ctx.Done():
			return s.hub.Active(id)
		}
	}
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
	release := s.pres.Connect(m.ID)
	defer release()
	s.pres.Seen(m.ID, s.now())

	// A poll that starts up to date and is answered with a change measures
	// how long agents wait for changes (one that starts behind measures
	// how long the agent was away).
	upToDate := since != 0 && since >= s.hub.Version()
	if wait > 0 {
		// Spread the timeouts so that agents that connected together do not
		// come back together forever.
		wait -= time.Duration(rand.Int64N(int64(wait) / 10))
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + 15*time.Second))
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		for {
			s.hub.Wait(ctx, m.ID, since) // at once if the agent is behind
			nm, ok := s.hub.Reply(m.ID, since)
			if !ok || ctx.Err() != nil || !nm.Empty() {
				break
			}
			// Nothing for this machine (under an access policy, most
			// changes concern others): keep holding the poll instead of
			// sending an empty answer it would only poll again after.
			// Empty deltas compose, so the answer may start from here.
			since = nm.Version
		}
		cancel()
	}
	nm, ok := s.hub.Reply(m.ID, since)
	if !ok {
		s.writeError(w, r, s.gone(r.Context(), m))
		return
	}
	if upToDate && !nm.Empty() && nm.Version > since {
		if at := s.hub.AppliedAfter(since); !at.IsZero() {
			s.m.delivery.Observe(time.Since(at).Seconds())
		}
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
	eps, err := s.fl.SetEndpoints(r.Context(), m.ID, remoteaddr.Addr(r), req.Endpoints, req.ListenPort)
	if err != nil {
		s.writeError(w, r, err)
		return
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
	m, err := s.fl.Rekey(r.Context(), machineActor(r, m), m.ID, req.PublicKey)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// enrollInteractive records a machine's request to join without a token
// and tells it where its owner approves it.
func (s *Server) enrollInteractive(w http.ResponseWriter, r *http.Request) {
	ip := remoteaddr.IP(r)
	if s.lim != nil && !s.lim.Allow(ip, s.now()) {
		s.writeError(w, r, wire.Errorf(wire.CodeRateLimited, "too many enrollment attempts from %s; try again in a minute", ip))
		return
	}
	var req wire.EnrollRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	code, sec, p, err := s.fl.RequestEnrollment(r.Context(), remoteaddr.Addr(r), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	base := ""
	if s.info != nil {
		base = s.info().URL
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, wire.InteractiveEnrollResponse{Code: code, URL: base + "/e/" + code, Secret: sec, ExpiresAt: p.ExpiresAt})
}

// enrollWait holds the waiting agent's request until an admin decides (or
// ?wait= seconds, at most MaxWait, pass: 202, ask again). Approved, the
// machine is enrolled and the answer is an enrollment's.
func (s *Server) enrollWait(w http.ResponseWriter, r *http.Request) {
	tok, ok := bearer(r)
	if !ok {
		s.writeError(w, r, wire.Errorf(wire.CodeUnauthenticated, "missing Authorization: Bearer wfp_… header"))
		return
	}
	wait := 0 * time.Second
	if v := r.URL.Query().Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 3600 {
			s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "wait must be 0–3600 seconds"))
			return
		}
		wait = min(time.Duration(n)*time.Second, s.cfg.MaxWait)
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + 15*time.Second))
	deadline := time.Now().Add(wait)
	for {
		en, err := s.fl.CollectEnrollment(r.Context(), remoteaddr.Addr(r), tok)
		if err == nil {
			s.m.enrollments.WithLabelValues("ok").Inc()
			s.enrolled(w, r, en)
			return
		}
		if !errors.Is(err, fleet.ErrStillWaiting) {
			s.writeError(w, r, err)
			return
		}
		if !time.Now().Before(deadline) {
			writeJSON(w, http.StatusAccepted, map[string]string{"state": store.PendingWaiting})
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// gone is the error for a machine that left the map while its request
// was held: expired (its agent asks for a re-authentication and keeps its
// secrets) or revoked or deleted (its agent wipes them).
func (s *Server) gone(ctx context.Context, m wire.Machine) error {
	if cur, err := s.db.Machine(ctx, m.ID); err == nil && cur.State == wire.MachineExpired {
		return wire.Errorf(wire.CodeMachineExpired, "machine %s's enrollment expired: re-authenticate with an enrollment token (wirefleet-agent login --token wfe_…)", m.Name)
	}
	return wire.Errorf(wire.CodeMachineRevoked, "machine %s has been revoked or deleted by an admin", m.Name)
}

// reauth brings back an expired machine with an enrollment token.
func (s *Server) reauth(w http.ResponseWriter, r *http.Request) {
	m := machineFrom(r.Context())
	var req wire.ReauthRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.fl.Reauth(r.Context(), machineActor(r, m), m.ID, req.Token)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// credential issues the machine's next credential (rotation).
func (s *Server) credential(w http.ResponseWriter, r *http.Request) {
	m := machineFrom(r.Context())
	sec, err := s.fl.IssueNextCredential(r.Context(), m.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, wire.CredentialResponse{Credential: sec})
}

// logout lets an agent leave: its machine is revoked (kept for the admin,
// with the audit event naming the machine itself as the actor).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	m := machineFrom(r.Context())
	if _, err := s.fl.RevokeMachine(r.Context(), machineActor(r, m), m.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// machineActor names an agent acting on its own machine, for the audit log.
func machineActor(r *http.Request, m wire.Machine) store.Actor {
	return store.Actor{Name: "machine:" + m.ID, SourceIP: remoteaddr.IP(r)}
}

// relay upgrades the request to the machine's relay session.
func (s *Server) relay(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Relay == nil {
		s.writeError(w, r, wire.Errorf(wire.CodeNotFound, "this server does not relay packets (started with --relay=false)"))
		return
	}
	if !s.requireUpgrade(w, r, "the relay") {
		return
	}
	m := machineFrom(r.Context())
	if err := relay.CheckKey(m.PublicKey); err != nil {
		s.writeError(w, r, wire.Errorf(wire.CodeConflict, "machine %s has no usable WireGuard key for the relay: %v", m.Name, err))
		return
	}
	s.cfg.Relay.Serve(w, r, m)
}

// relayMesh accepts another replica's relay link; the link proves the
// shared mesh key itself.
func (s *Server) relayMesh(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Relay == nil || s.cfg.Relay.Replica() == "" {
		s.writeError(w, r, wire.Errorf(wire.CodeNotFound, "this replica's relay is not in a mesh (no --relay-mesh-key-file)"))
		return
	}
	if !s.requireUpgrade(w, r, "the relay mesh") {
		return
	}
	s.cfg.Relay.ServeMesh(w, r)
}

// requireUpgrade refuses a request to a WebSocket route that is not an
// opening handshake, with the API's JSON error (not the WebSocket
// library's plain text), and reports whether it may go on.
func (s *Server) requireUpgrade(w http.ResponseWriter, r *http.Request, what string) bool {
	if isWebSocketUpgrade(r) {
		return true
	}
	w.Header().Set("Upgrade", "websocket")
	w.Header().Set("Sec-WebSocket-Version", "13")
	s.writeError(w, r, wire.Errorf(wire.CodeUpgradeRequired, "%s speaks WebSocket: send GET with Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key", what))
	return false
}

// isWebSocketUpgrade reports whether r is a WebSocket opening handshake
// this server can accept (RFC 6455 4.2.1).
func isWebSocketUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket") &&
		r.Header.Get("Sec-WebSocket-Version") == "13" &&
		r.Header.Get("Sec-WebSocket-Key") != ""
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
