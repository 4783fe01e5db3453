// Package api serves Wirefleet's HTTP+JSON protocol (pkg/wire) on the
// standard library's ServeMux: enrollment and network maps for agents, and
// the admin API used by the CLI and the web page.
//
// Every error leaves through writeError, the one place that turns an error
// into a status and a stable code, and the only place internal errors are
// logged.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wirefleet/wirefleet/pkg/jsonkeys"
	"github.com/wirefleet/wirefleet/pkg/ofrep"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/console"
	"github.com/wirefleet/wirefleet/server/internal/fleet"
	"github.com/wirefleet/wirefleet/server/internal/netmap"
	"github.com/wirefleet/wirefleet/server/internal/openapi"
	"github.com/wirefleet/wirefleet/server/internal/presence"
	"github.com/wirefleet/wirefleet/server/internal/ratelimit"
	"github.com/wirefleet/wirefleet/server/internal/relay"
	"github.com/wirefleet/wirefleet/server/internal/reqid"
	"github.com/wirefleet/wirefleet/server/internal/scim"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// Config holds what the API needs besides its dependencies.
type Config struct {
	// EnrollRate and EnrollBurst limit enrollment attempts per source IP
	// (per minute). 0 disables the limit.
	EnrollRate  float64
	EnrollBurst int
	// MaxWait caps a network-map long-poll (default 60 s).
	MaxWait time.Duration
	// Info describes the server for GET /api/v1/server.
	Info func() wire.ServerInfo
	// Relay, when set, serves agents' relay sessions.
	Relay *relay.Server
	// TLS, when set, is the server's self-signed key set (tls rotate).
	TLS fleet.TLSKeys
	// Console, when set, pairs console terminals with agents.
	Console *console.Broker
}

// Server is the API. Create it with New. It is an adapter: changes go
// through the fleet service, reads straight to the store and the hub.
type Server struct {
	fl   *fleet.Service
	db   fleet.Reader
	hub  *netmap.Hub
	pres *presence.Tracker // polls held and last-seen times
	log  *slog.Logger
	cfg  Config
	m    *metrics
	now  func() time.Time
	lim  *ratelimit.Limiter
	info func() wire.ServerInfo

	creds   credCache
	healthq chan store.HealthEntry
	scim    http.Handler
	scopes  map[string]scopeDecision // the public handler's admin routes (ScopeDecisions)
	// patterns are every pattern the public handler serves (Patterns).
	patterns []string
	ofrep    *ofrepServer
}

// New returns the API server over the fleet service. reg receives its
// Prometheus metrics.
func New(fl *fleet.Service, log *slog.Logger, reg prometheus.Registerer, cfg Config) *Server {
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 60 * time.Second
	}
	db, hub := fl.Reader(), fl.Hub()
	s := &Server{fl: fl, db: db, hub: hub, pres: fl.Presence(), log: log, cfg: cfg, now: time.Now, info: cfg.Info, healthq: make(chan store.HealthEntry, healthQueue)}
	if cfg.EnrollRate > 0 {
		s.lim = ratelimit.New(cfg.EnrollRate, cfg.EnrollBurst)
	}
	s.m = newMetrics(reg, db, hub, fl.Presence())
	s.ofrep = newOFREPServer(s)
	h, err := scim.New(fl, db, log)
	if err != nil {
		panic(err) // the resource types are ours: only a programming error fails
	}
	s.scim = h
	return s
}

type ctxKey int

const (
	keyAdmin ctxKey = iota
	keyMachine
)

// Handler returns the public handler: agents authenticate with machine
// credentials, admins with API keys.
func (s *Server) Handler() http.Handler { return s.routes(false) }

// LocalHandler returns the handler for the root-only Unix socket: every
// request is an admin request by the local operator ("local:cli").
func (s *Server) LocalHandler() http.Handler { return s.routes(true) }

func (s *Server) routes(local bool) http.Handler {
	mux := &routeMux{ServeMux: http.NewServeMux()}
	scopes := map[string]scopeDecision{}
	if !local {
		defer func() { s.scopes, s.patterns = scopes, mux.patterns }()
	}
	// Every admin route says who may use it: owner routes only the fleet's
	// admins (fleet.Allow refuses team roles before the handler runs);
	// team routes any team role too, the fleet layer deciding what each
	// may see and change (ScopeDecisions lists them for the test).
	admin := func(pattern string, h http.HandlerFunc, decision scopeDecision) {
		if decision == ownerOnly {
			h = s.ownersOnly(h)
		}
		if !local {
			scopes[pattern] = decision
			mux.Handle(pattern, s.adminAuth(h))
			return
		}
		mux.Handle(pattern, s.localAdmin(h))
	}
	owner := func(pattern string, h http.HandlerFunc) { admin(pattern, h, ownerOnly) }
	team := func(pattern string, h http.HandlerFunc) { admin(pattern, h, teamScoped) }
	agent := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.machineAuth(h)) }

	mux.HandleFunc("GET "+wire.PathOpenAPI, s.openAPI)
	mux.HandleFunc("POST "+wire.PathEnroll, s.enroll)
	mux.HandleFunc("POST "+wire.PathEnrollInteractive, s.enrollInteractive)
	mux.HandleFunc("GET "+wire.PathEnrollWait, s.enrollWait)
	agent("GET "+wire.PathNetmap, s.netmap)
	agent("POST "+wire.PathEndpoints, s.endpoints)
	agent("POST "+wire.PathRekey, s.rekey)
	agent("POST "+wire.PathCredential, s.credential)
	mux.Handle("POST "+wire.PathReauth, s.machineAuthAllowExpired(http.HandlerFunc(s.reauth)))
	agent("POST "+wire.PathHealth, s.health)
	agent("POST "+wire.PathAgentFlows, s.agentFlows)
	agent("POST "+wire.PathLogout, s.logout)
	agent("GET "+wire.PathAgentFlags, s.agentFlags)
	agent("GET "+wire.PathRelay, s.relay)
	mux.HandleFunc("GET "+wire.PathRelayMesh, s.relayMesh) // replicas authenticate each other in-band
	agent("POST "+wire.PathAgentRoutes, s.agentRoutes)
	agent("POST "+wire.PathAgentPeerRelay, s.peerRelay)
	agent("POST "+wire.PathAgentSSHCheck, s.agentSSHCheck)
	agent("POST "+wire.PathAgentSSHSessions, s.agentSSHSession)
	agent("POST "+wire.PathAgentSSHRecording+"/{id}", s.agentSSHRecording)
	agent("GET "+wire.PathAgentSSHConsole, s.agentSSHConsole)
	agent("GET "+wire.PathAgentSSHConsole+"/{id}", s.agentSSHConsoleConn)
	if !local {
		mux.Handle(wire.PathSCIM+"/", s.scimAuth(s.scim))
		ofr := s.ofrep.auth(ofrep.Handler(s.ofrep, nil))
		mux.Handle("POST "+ofrep.PathBulk, ofr)
		mux.Handle("POST "+ofrep.PathSingle, ofr)
		mux.HandleFunc("/ofrep/", func(w http.ResponseWriter, r *http.Request) {
			ofrep.WriteJSON(w, http.StatusNotFound, ofrep.Error{ErrorCode: ofrep.CodeGeneral, ErrorDetails: "no OFREP route " + r.Method + " " + r.URL.Path + " (POST " + ofrep.PathBulk + "[/KEY])"})
		})
	}

	owner("GET "+wire.PathServer, s.serverInfo)
	owner("GET "+wire.PathEnrollments, s.listEnrollments)
	owner("POST "+wire.PathEnrollments+"/{code}/{decision}", s.decideEnrollment)
	owner("POST "+wire.PathTLSRotate, s.rotateTLS)
	owner("GET "+wire.PathSecrets, s.secretsStatus)
	owner("POST "+wire.PathSecrets+"/seal", s.sealSecrets)
	owner("POST "+wire.PathSecrets+"/rotate", s.rotateSecret)
	team("POST "+wire.PathTokens, s.createToken)
	team("GET "+wire.PathTokens, s.listTokens)
	team("DELETE "+wire.PathTokens+"/{id}", s.revokeToken)
	team("GET "+wire.PathMachines, s.listMachines)
	team("GET "+wire.PathMachines+"/{id}", s.getMachine)
	team("PATCH "+wire.PathMachines+"/{id}", s.updateMachine)
	team("POST "+wire.PathMachines+"/{id}/revoke", s.revokeMachine)
	team("POST "+wire.PathMachines+"/{id}/rotate-key", s.rotateKey)
	owner("POST "+wire.PathRotateKeys, s.rotateAllKeys)
	team("DELETE "+wire.PathMachines+"/{id}", s.deleteMachine)
	team("GET "+wire.PathMachines+"/{id}/health", s.getHealth)
	owner("GET "+wire.PathRoutes, s.listRoutes)
	owner("GET "+wire.PathFlows, s.listFlows)
	owner("GET "+wire.PathSSHSessions, s.listSSHSessions)
	owner("GET "+wire.PathSSHSessions+"/{id}/recording", s.sshRecording)
	team("GET "+wire.PathSSHChecks+"/{id}", s.getSSHCheck)
	team("POST "+wire.PathSSHChecks+"/{id}/confirm", s.confirmSSHCheck)
	team("POST "+wire.PathRoutes+"/{machine}/{decision}", s.decideRoutes)
	team("GET "+wire.PathAudit, s.listAudit)
	owner("GET "+wire.PathReleases, s.listReleases)
	owner("PUT "+wire.PathReleases+"/files/{name}", s.uploadFile)
	owner("PUT "+wire.PathReleases+"/keys", s.publishKeys)
	owner("PUT "+wire.PathReleases+"/channels/{channel}", s.publishManifest)
	owner("POST "+wire.PathReleases+"/channels/{channel}/{action}", s.pauseChannel)
	team("GET "+wire.PathFlags, s.listFlags)
	team("GET "+wire.PathFlags+"/{key}", s.getFlag)
	team("PUT "+wire.PathFlags+"/{key}", s.putFlag)
	owner("GET "+wire.PathPolicy, s.getPolicy)
	owner("PUT "+wire.PathPolicy, s.putPolicy)
	owner("POST "+wire.PathPolicyQuery, s.queryPolicy)
	owner("GET "+wire.PathDNSRecords, s.listDNSRecords)
	owner("POST "+wire.PathDNSRecords, s.addDNSRecord)
	owner("DELETE "+wire.PathDNSRecords+"/{name}", s.removeDNSRecords)
	team("DELETE "+wire.PathFlags+"/{key}", s.deleteFlag)
	team("POST "+wire.PathAPIKeys, s.createAPIKey)
	team("GET "+wire.PathAPIKeys, s.listAPIKeys)
	team("DELETE "+wire.PathAPIKeys+"/{id}", s.revokeAPIKey)
	owner("POST "+wire.PathAdmins, s.createAdmin)
	owner("GET "+wire.PathAdmins, s.listAdmins)
	team("GET "+wire.PathTeams, s.listTeams)
	owner("PUT "+wire.PathTeams+"/{name}", s.putTeam)
	owner("DELETE "+wire.PathTeams+"/{name}", s.deleteTeam)
	owner("DELETE "+wire.PathAdmins+"/{id}", s.deleteAdmin)
	owner("POST "+wire.PathAdmins+"/{id}/password", s.setPassword)
	owner("GET "+wire.PathDirectory, s.getDirectory)
	team("GET "+wire.PathFlags+"/{key}/usage", s.flagUsage)
	team("POST "+wire.PathFlagClients, s.createFlagClient)
	team("GET "+wire.PathFlagClients, s.listFlagClients)
	team("POST "+wire.PathFlagClientsBulk, s.bulkFlagClients)
	team("PATCH "+wire.PathFlagClients+"/{name}", s.updateFlagClient)
	team("DELETE "+wire.PathFlagClients+"/{name}", s.deleteFlagClient)
	team("POST "+wire.PathFlagClients+"/{name}/keys", s.rotateFlagClientKey)
	team("DELETE "+wire.PathFlagClients+"/{name}/keys/{key}", s.revokeFlagClientKey)
	owner("POST "+wire.PathSCIMTokens, s.createSCIMToken)
	owner("GET "+wire.PathSCIMTokens, s.listSCIMTokens)
	owner("DELETE "+wire.PathSCIMTokens+"/{id}", s.revokeSCIMToken)

	// Profiles, for admins only: they reveal memory contents and cost CPU.
	owner("GET /debug/pprof/", s.jsonErrors(pprof.Index))
	owner("GET /debug/pprof/cmdline", s.jsonErrors(pprof.Cmdline))
	owner("GET /debug/pprof/profile", s.jsonErrors(pprof.Profile))
	owner("GET /debug/pprof/symbol", s.jsonErrors(pprof.Symbol))
	owner("GET /debug/pprof/trace", s.jsonErrors(pprof.Trace))

	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, wire.Errorf(wire.CodeNotFound, "no API route %s %s", r.Method, r.URL.Path))
	})
	return reqid.Middleware(s.instrument(mux))
}

// routeMux is a ServeMux that remembers the patterns it serves, so that a
// test can hold them against the OpenAPI document.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// Patterns lists every pattern the public handler serves ("GET
// /api/v1/machines/{id}"; prefixes such as "/scim/v2/" end in a slash).
func (s *Server) Patterns() []string {
	s.routes(false)
	return slices.Clone(s.patterns)
}

// openAPI serves the API's OpenAPI 3.1 description.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	b, err := openapi.JSON()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b)
}

// jsonErrors turns the plain-text refusals of a handler we do not own
// (net/http/pprof's "Unknown profile") into the API's JSON errors with a
// stable code; its successful answers pass through untouched.
func (s *Server) jsonErrors(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ew := &errorCatcher{ResponseWriter: w}
		h(ew, r)
		if ew.status < 400 {
			return
		}
		code := wire.CodeInternal
		switch ew.status {
		case http.StatusBadRequest:
			code = wire.CodeInvalidArgument
		case http.StatusNotFound:
			code = wire.CodeNotFound
		case http.StatusMethodNotAllowed:
			code = wire.CodeMethodNotAllowed
		}
		for _, k := range []string{"Content-Type", "X-Content-Type-Options", "X-Go-Pprof", "Content-Disposition"} {
			w.Header().Del(k)
		}
		msg := strings.TrimSpace(ew.body.String())
		if msg == "" {
			msg = http.StatusText(ew.status)
		}
		s.writeError(w, r, wire.Errorf(code, "%s", wire.ClipFact(msg, 300)))
	}
}

// errorCatcher holds back an error answer (status 400 and up) so that
// jsonErrors can write it as JSON.
type errorCatcher struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (e *errorCatcher) WriteHeader(code int) {
	if e.status != 0 {
		return
	}
	e.status = code
	if code < 400 {
		e.ResponseWriter.WriteHeader(code)
	}
}

func (e *errorCatcher) Write(b []byte) (int, error) {
	if e.status == 0 {
		e.WriteHeader(http.StatusOK)
	}
	if e.status >= 400 {
		if e.body.Len() < 4096 {
			e.body.Write(b)
		}
		return len(b), nil
	}
	return e.ResponseWriter.Write(b)
}

func (e *errorCatcher) Unwrap() http.ResponseWriter { return e.ResponseWriter }

// writeError writes err as a JSON error. *wire.Error values travel as they
// are; anything else is logged here and reported as "internal" without
// details, so no internal text reaches a client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var we *wire.Error
	if !errors.As(err, &we) && r.Context().Err() != nil {
		// The client went away (an agent restarted, a load balancer timed
		// out): nobody reads this answer and the server did nothing wrong,
		// so it is neither an error in the log nor a 500 in the metrics.
		s.log.Debug("client went away", "method", r.Method, "path", r.URL.Path, "request_id", reqid.From(r.Context()), "err", err)
		w.WriteHeader(statusClientClosed)
		return
	}
	if we == nil {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "request_id", reqid.From(r.Context()), "err", err)
		if s.m != nil {
			s.m.dbErrors.WithLabelValues("request").Inc()
		}
		we = &wire.Error{Code: wire.CodeInternal, Message: "internal server error"}
	}
	if we.Code == wire.CodeRateLimited {
		w.Header().Set("Retry-After", "60")
	}
	writeJSON(w, we.Code.Status(), wire.ErrorResponse{Error: we})
}

// statusClientClosed is recorded for requests whose client left before the
// answer (nginx's 499): the metrics tell them from the server's own failures.
const statusClientClosed = 499

func writeJSON(w http.ResponseWriter, status int, v any) {
	setJSONHeaders(w)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func setJSONHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
}

// decodeJSON reads exactly one JSON value of at most wire.MaxBodyBytes into
// v, refusing unknown fields and trailing data.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body := r.Body
	if w != nil {
		body = http.MaxBytesReader(w, r.Body, wire.MaxBodyBytes)
	}
	return DecodeStrict(body, v)
}

// DecodeStrict decodes one JSON value from rd into v and maps every failure
// to a protocol error. It is exported for the fuzz tests' sake and for
// anything else that reads protocol bodies.
func DecodeStrict(rd io.Reader, v any) error { return decodeLimit(rd, v, wire.MaxBodyBytes) }

// decodeLimit is DecodeStrict with a size limit of its own. Beyond what
// encoding/json refuses, a key given twice or in another case than the
// field's ({"tags":[…],"tags":[]}, {"Tags":…}) is refused: the decoder
// would silently keep one of them, and a reviewed body could hide a
// second value behind the first.
func decodeLimit(rd io.Reader, v any, limit int64) error {
	body, err := io.ReadAll(io.LimitReader(rd, limit+1))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr), err == nil && int64(len(body)) > limit:
		return wire.Errorf(wire.CodeBodyTooLarge, "request body larger than %d bytes", limit)
	case err != nil:
		return wire.Errorf(wire.CodeInvalidJSON, "request body could not be read: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			return wire.Errorf(wire.CodeInvalidJSON, "request body must hold exactly one JSON value")
		}
		var p *jsonkeys.Problem
		if errors.As(jsonkeys.Check(body, v), &p) {
			if p.Kind == jsonkeys.Case {
				return wire.Errorf(wire.CodeUnknownField, "unknown field %q at byte %d: write it %q (fields are matched exactly)", p.Key, p.Offset, p.Want)
			}
			return wire.Errorf(wire.CodeDuplicateField, "field %q at byte %d was given before, at byte %d: give each field once", p.Key, p.Offset, p.First)
		}
		return nil
	}
	var (
		synErr  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return wire.Errorf(wire.CodeInvalidJSON, "request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return wire.Errorf(wire.CodeInvalidJSON, "request body ends in the middle of a JSON value")
	case errors.As(err, &synErr):
		return wire.Errorf(wire.CodeInvalidJSON, "malformed JSON at byte %d", synErr.Offset)
	case errors.As(err, &typeErr):
		return wire.Errorf(wire.CodeInvalidJSON, "field %q must be a %s", typeErr.Field, typeErr.Type.String())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return wire.Errorf(wire.CodeUnknownField, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return wire.Errorf(wire.CodeInvalidJSON, "invalid JSON body")
	}
}

func adminFrom(ctx context.Context) store.Actor {
	a, _ := ctx.Value(keyAdmin).(store.Actor)
	return a
}

func machineFrom(ctx context.Context) wire.Machine {
	m, _ := ctx.Value(keyMachine).(wire.Machine)
	return m
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(h[len(p):]), true
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
