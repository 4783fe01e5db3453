// Package web is the admin web page: sign-in, machines with live status and
// health, machine detail with revoke, tokens with ready one-liners, and the
// audit log. It is server-rendered html/template with one small script
// (static/app.js) for live refresh, confirmations and copy buttons; there
// is no build step and nothing is loaded from elsewhere.
//
// Safety: every page carries a strict Content-Security-Policy (no inline
// script), every state-changing form a per-session CSRF token, and every
// string from users or agents goes through html/template's escaping or, in
// the script, textContent.
package web

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/console"
	"github.com/wirefleet/wirefleet/server/internal/fleet"
	"github.com/wirefleet/wirefleet/server/internal/oneliner"
	"github.com/wirefleet/wirefleet/server/internal/presence"
	"github.com/wirefleet/wirefleet/server/internal/ratelimit"
	"github.com/wirefleet/wirefleet/server/internal/remoteaddr"
	"github.com/wirefleet/wirefleet/server/internal/reqid"
	"github.com/wirefleet/wirefleet/server/internal/secret"
	"github.com/wirefleet/wirefleet/server/internal/sso"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config holds the page's settings.
type Config struct {
	// Secure marks cookies Secure (the server speaks TLS).
	Secure bool
	// SessionTTL is how long a sign-in lasts (default 12 h).
	SessionTTL time.Duration
	// LoginRate limits sign-in attempts per source IP per minute (default 10).
	LoginRate float64
	// Server returns the URL and pin put into one-liners.
	Server func() oneliner.Server
	// SSO, when set, offers sign-in through the company's OpenID
	// provider; NoPasswordLogin then turns the password form off.
	SSO             *sso.Provider
	NoPasswordLogin bool
	// Console, when set, serves terminals to machines (console.Broker).
	Console *console.Broker
}

// Web serves the admin page. It is an adapter: changes go through the
// fleet service, reads straight to the store and the hub.
type Web struct {
	fl      *fleet.Service
	db      fleet.Reader
	pres    *presence.Tracker // who is online
	log     *slog.Logger
	cfg     Config
	pages   map[string]*template.Template
	fresh   fresh[createdToken] // created tokens' secrets, until shown (Post/Redirect/Get)
	secrets fresh[shownOnce]    // admins' passwords and API keys, likewise
	login   *ratelimit.Limiter
	// refusals counts SSO refusals past the rate limit (not audited).
	refusals refusalCounts
	now      func() time.Time
	// dummyHash is a bcrypt hash of a random string, compared against when
	// the user name does not exist.
	dummyHash string
}

const (
	sessionCookie = "wf_session"
	loginCookie   = "wf_login"
	sessionPrefix = "wfs_"
)

// New parses the templates (failing if one is missing or broken) and
// returns the page.
func New(fl *fleet.Service, log *slog.Logger, cfg Config) (*Web, error) {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.LoginRate <= 0 {
		cfg.LoginRate = 10
	}
	// Unknown user names are checked against a dummy hash of the cost real
	// passwords use, so that timing does not reveal which names exist.
	rnd, _ := secret.New("")
	dummy, err := bcrypt.GenerateFromPassword([]byte(rnd), fl.BcryptCost())
	if err != nil {
		return nil, fmt.Errorf("web: dummy password hash: %w", err)
	}
	w := &Web{fl: fl, db: fl.Reader(), pres: fl.Presence(), log: log, cfg: cfg, pages: map[string]*template.Template{},
		login: ratelimit.New(cfg.LoginRate, int(cfg.LoginRate)), now: time.Now, dummyHash: string(dummy)}
	funcs := template.FuncMap{
		"ago":         w.ago,
		"until":       w.until,
		"ptr":         func(t time.Time) *time.Time { return &t },
		"when":        func(t *time.Time) string { return fmtTime(t) },
		"join":        strings.Join,
		"mib":         func(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) },
		"gib":         func(b uint64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) },
		"pct":         func(used, total uint64) string { return pct(used, total) },
		"bytes":       humanBytes,
		"ubytes":      func(n uint64) string { return humanBytes(int64(n)) },
		"list":        func() []string { return []string{wire.FlagBoolean, wire.FlagString, wire.FlagNumber, wire.FlagObject} },
		"routeAction": routeAction,
	}
	for _, page := range []string{"login", "machines", "machine", "tokens", "token_created", "audit", "flags", "updates", "policy", "dns", "routes", "clouds", "flows", "error", "signed_in", "signed_out", "enroll", "bulk", "admins", "shown_once", "clients", "ssh_check", "terminal", "ssh_sessions", "ssh_play"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", page, err)
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf("web: template %s defines no content", page)
		}
		w.pages[page] = t
	}
	return w, nil
}

// Handler returns the page's routes; the daemon mounts it at "/".
func (w *Web) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /favicon.ico", func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, "/static/favicon.svg", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /login", w.loginPage)
	mux.HandleFunc("POST /login", w.loginPost)
	mux.HandleFunc("GET /sso/start", w.ssoStart)
	mux.HandleFunc("GET /sso/callback", w.ssoCallback)
	mux.HandleFunc("GET /{$}", func(rw http.ResponseWriter, r *http.Request) { http.Redirect(rw, r, "/machines", http.StatusSeeOther) })

	// auth routes are for admins; member routes also for members (single
	// sign-on users who may only approve the machines they add).
	auth := func(pattern string, h func(http.ResponseWriter, *http.Request, store.Session)) {
		mux.Handle(pattern, w.requireSession(w.adminsOnly(h)))
	}
	member := func(pattern string, h func(http.ResponseWriter, *http.Request, store.Session)) {
		mux.Handle(pattern, w.requireSession(h))
	}
	// team routes are for admins and members with a team role.
	team := func(pattern string, h func(http.ResponseWriter, *http.Request, store.Session)) {
		mux.Handle(pattern, w.requireSession(w.teamsToo(h)))
	}
	member("POST /logout", w.logout)
	member("GET /member", w.memberHome)
	team("GET /machines", w.machines)
	team("GET /machines.json", w.machinesJSON)
	team("POST /machines/bulk", w.bulk)
	team("GET /machines/{id}", w.machine)
	team("GET /machines/{id}/live.json", w.machineLiveJSON)
	team("POST /machines/{id}/revoke", w.revoke)
	team("POST /machines/{id}/rotate-key", w.rotateKey)
	team("POST /machines/{id}/expiry", w.setExpiry)
	team("POST /machines/{id}/delete", w.delete)
	team("POST /machines/{id}/rename", w.rename)
	team("POST /machines/{id}/tags", w.retag)
	team("POST /machines/{id}/pin", w.pin)
	auth("GET /ssh", w.sshSessionsPage)
	auth("GET /ssh/sessions/{id}/play", w.sshPlayPage)
	auth("GET /ssh/sessions/{id}/cast", w.sshCast)
	auth("GET /machines/{id}/terminal", w.terminalPage)
	auth("GET /machines/{id}/terminal/ws", w.terminalWS)
	member("GET /e/{code}", w.enrollPage)
	member("POST /e/{code}/{decision}", w.decideEnroll)
	member("GET /ssh/check/{id}", w.sshCheckPage)
	member("POST /ssh/check/{id}/confirm", w.confirmSSHCheck)
	team("GET /clients", w.clientsPage)
	team("POST /clients", w.createClient)
	team("POST /clients/bulk", w.bulkClients)
	auth("GET /admins", w.admins)
	auth("POST /admins", w.createAdmin)
	auth("POST /admins/{id}/delete", w.deleteAdmin)
	auth("POST /admins/keys", w.createAPIKey)
	auth("POST /admins/keys/{id}/revoke", w.revokeAPIKey)
	team("GET /admins/created/{key}", w.secretShown) // a session's own secrets only
	team("GET /tokens", w.tokens)
	team("POST /tokens", w.createToken)
	team("GET /tokens/created/{key}", w.tokenCreated)
	team("POST /tokens/{id}/revoke", w.revokeToken)
	team("GET /audit", w.audit)
	team("GET /flags", w.flags)
	team("POST /flags", w.saveFlag)
	team("POST /flags/{key}/toggle", w.toggleFlag)
	team("POST /flags/{key}/delete", w.deleteFlag)
	auth("GET /policy", w.policyPage)
	auth("POST /policy", w.savePolicy)
	auth("GET /routes", w.routesPage)
	auth("GET /clouds", w.cloudsPage)
	auth("GET /flows", w.flowsPage)
	team("POST /routes/{machine}/{decision}", w.decideRoute)
	auth("GET /dns", w.dnsPage)
	auth("POST /dns", w.addDNS)
	auth("POST /dns/{name}/delete", w.removeDNS)
	auth("GET /updates", w.updates)
	auth("POST /updates/{channel}/{action}", w.pause)
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		w.fail(rw, r, http.StatusNotFound, "There is no page at this address.")
	})
	return reqid.Middleware(securityHeaders(mux))
}

// securityHeaders sets the headers every page carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h := rw.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(rw, r)
	})
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Cache-Control", "public, max-age=300")
		next.ServeHTTP(rw, r)
	})
}

type ctxKey struct{}

// requireSession admits requests with a live session cookie and, for
// POSTs, the session's CSRF token.
func (w *Web) requireSession(h func(http.ResponseWriter, *http.Request, store.Session)) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		var sess store.Session
		if err == nil && secret.WellFormed(c.Value, sessionPrefix) {
			sess, err = w.db.SessionByHash(r.Context(), secret.Hash(c.Value))
		} else if err == nil {
			err = store.ErrNotFound
		}
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, http.ErrNoCookie) {
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, ".json") {
				to := "/login"
				if r.URL.Path != "/machines" && r.URL.Path != "/" {
					to += "?next=" + url.QueryEscape(r.URL.Path) // back here after signing in
				}
				http.Redirect(rw, r, to, http.StatusSeeOther)
				return
			}
			w.fail(rw, r, http.StatusUnauthorized, "Your session has ended. Sign in again.")
			return
		}
		if err != nil {
			w.internal(rw, r, err)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(rw, r.Body, 64<<10)
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.CSRF)) != 1 {
				w.fail(rw, r, http.StatusForbidden, "This form expired or did not come from this page. Reload the page and try again.")
				return
			}
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, sess)
		if sess.Admin.Role == wire.RoleMember {
			// A member's teams decide what they see and may change.
			sc, err := w.fl.ScopeOf(r.Context(), sess.Admin.ID)
			if err != nil {
				w.internal(rw, r, err)
				return
			}
			ctx = context.WithValue(ctx, scopeKey{}, sc)
		}
		h(rw, r.WithContext(ctx), sess)
	})
}

type scopeKey struct{}

// requestActor is actor for handlers given only the request (the session
// is in its context).
func (w *Web) requestActor(r *http.Request) store.Actor {
	s, _ := r.Context().Value(ctxKey{}).(store.Session)
	return w.actor(r, s)
}

// scopeOf returns the request's scope: nil for an admin (everything).
func scopeOf(r *http.Request) *store.Scope {
	sc, _ := r.Context().Value(scopeKey{}).(*store.Scope)
	return sc
}

// inTeams reports whether a member's scope holds a team.
func inTeams(sc *store.Scope) bool { return sc != nil && len(sc.AdminTeams)+len(sc.MemberTeams) > 0 }

func (w *Web) actor(r *http.Request, s store.Session) store.Actor {
	if s.Admin.Role == wire.RoleMember {
		return store.Actor{Name: "member:" + s.Admin.Name, SourceIP: remoteaddr.IP(r), Scope: scopeOf(r)}
	}
	return store.Actor{Name: "admin:" + s.Admin.Name, SourceIP: remoteaddr.IP(r)}
}

// page is what every template receives.
type page struct {
	Title  string
	Nav    string
	Admin  string
	Member bool // the signed-in account is a member: no admin navigation
	Team   bool // … with a team role: the team pages' navigation
	CSRF   string
	Flash  string
	Error  string
	Status int
	Data   any
}

func (w *Web) render(rw http.ResponseWriter, r *http.Request, name string, status int, p page) {
	t := w.pages[name]
	if s, ok := r.Context().Value(ctxKey{}).(store.Session); ok && s.Admin.Role == wire.RoleMember {
		p.Member, p.Team = true, inTeams(scopeOf(r))
	}
	var b strings.Builder
	if err := t.Execute(&b, p); err != nil {
		id := reqid.From(r.Context())
		w.log.Error("web: render", "page", name, "request_id", id, "err", err)
		http.Error(rw, "The page could not be drawn; the server log has details (request ID "+id+").", http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(status)
	_, _ = rw.Write([]byte(b.String()))
}

// fail shows a readable error page, never a stack trace.
func (w *Web) fail(rw http.ResponseWriter, r *http.Request, status int, msg string) {
	p := page{Title: http.StatusText(status), Error: msg, Status: status}
	if s, ok := r.Context().Value(ctxKey{}).(store.Session); ok {
		p.Admin, p.CSRF, p.Member = s.Admin.Name, s.CSRF, s.Admin.Role == wire.RoleMember
	}
	w.render(rw, r, "error", status, p)
}

// internal logs err and shows a generic error page.
func (w *Web) internal(rw http.ResponseWriter, r *http.Request, err error) {
	var we *wire.Error
	if errors.As(err, &we) {
		w.fail(rw, r, we.Code.Status(), we.Message)
		return
	}
	id := reqid.From(r.Context())
	w.log.Error("web: request failed", "path", r.URL.Path, "request_id", id, "err", err)
	w.fail(rw, r, http.StatusInternalServerError, "Something went wrong on the server; the server log has the details under request ID "+id+".")
}

func (w *Web) loginPage(rw http.ResponseWriter, r *http.Request) {
	w.showLogin(rw, r, http.StatusOK, "")
}

// showLogin renders the sign-in form with a fresh pre-session CSRF token,
// kept in a cookie (double submit).
func (w *Web) showLogin(rw http.ResponseWriter, r *http.Request, status int, msg string) {
	tok, _ := secret.New("")
	http.SetCookie(rw, &http.Cookie{Name: loginCookie, Value: tok, Path: "/login", HttpOnly: true, Secure: w.cfg.Secure, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	w.render(rw, r, "login", status, page{Title: "Sign in", CSRF: tok, Error: msg, Data: loginPage{
		SSO: w.cfg.SSO != nil, Password: !w.cfg.NoPasswordLogin, Issuer: w.ssoIssuer(), Next: safeNext(r.FormValue("next"))}})
}

func (w *Web) loginPost(rw http.ResponseWriter, r *http.Request) {
	if w.cfg.NoPasswordLogin {
		w.showLogin(rw, r, http.StatusForbidden, "Password sign-in is turned off on this server: sign in with single sign-on.")
		return
	}
	r.Body = http.MaxBytesReader(rw, r.Body, 16<<10)
	ip := remoteaddr.IP(r)
	if !w.login.Allow(ip, w.now()) {
		w.showLogin(rw, r, http.StatusTooManyRequests, "Too many sign-in attempts from your address. Wait a minute and try again.")
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		w.showLogin(rw, r, http.StatusForbidden, "The sign-in form expired. Please try again.")
		return
	}
	name, pw := r.PostFormValue("username"), r.PostFormValue("password")
	ad, hash, err := w.db.AdminPasswordHash(r.Context(), name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		w.internal(rw, r, err)
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		hash = w.dummyHash // spend the same time as a real check
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) != nil || errors.Is(err, store.ErrNotFound) {
		// What was typed into the user field is not kept: it is often a
		// password typed one field too early. A known admin is named by
		// the database; an unknown name is recorded only as unknown.
		if errors.Is(err, store.ErrNotFound) {
			_ = w.fl.Audit(r.Context(), store.Actor{Name: "anonymous", SourceIP: ip}, "admin.login_failed", "", map[string]any{"known_user": false})
		} else {
			_ = w.fl.Audit(r.Context(), store.Actor{Name: "anonymous", SourceIP: ip}, "admin.login_failed", ad.ID, map[string]any{"known_user": true, "admin": ad.Name})
		}
		w.showLogin(rw, r, http.StatusUnauthorized, "Wrong user name or password.")
		return
	}
	if err := w.startSession(rw, r, store.Actor{Name: "admin:" + ad.Name, SourceIP: ip}, ad.ID); err != nil {
		w.internal(rw, r, err)
		return
	}
	http.SetCookie(rw, &http.Cookie{Name: loginCookie, Value: "", Path: "/login", MaxAge: -1})
	to := "/machines"
	if next := safeNext(r.PostFormValue("next")); next != "" {
		to = next
	}
	http.Redirect(rw, r, to, http.StatusSeeOther)
}

// startSession signs the admin in: a session whose secret only the cookie
// holds.
func (w *Web) startSession(rw http.ResponseWriter, r *http.Request, a store.Actor, adminID string) error {
	sec, h := secret.New(sessionPrefix)
	csrf, _ := secret.New("")
	if err := w.fl.CreateSession(r.Context(), a, adminID, h, csrf, w.cfg.SessionTTL); err != nil {
		return err
	}
	http.SetCookie(rw, &http.Cookie{Name: sessionCookie, Value: sec, Path: "/", HttpOnly: true, Secure: w.cfg.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(w.cfg.SessionTTL / time.Second)})
	return nil
}

func (w *Web) logout(rw http.ResponseWriter, r *http.Request, s store.Session) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		_ = w.fl.DeleteSession(r.Context(), w.actor(r, s), secret.Hash(c.Value))
	}
	http.SetCookie(rw, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: w.cfg.Secure, SameSite: http.SameSiteStrictMode})
	// Signed in through the provider: sign out there too, and come back to
	// the sign-in page.
	if c, err := r.Cookie(idTokenCookie); err == nil && w.cfg.SSO != nil {
		http.SetCookie(rw, &http.Cookie{Name: idTokenCookie, Value: "", Path: "/logout", MaxAge: -1, HttpOnly: true, Secure: w.cfg.Secure, SameSite: http.SameSiteStrictMode})
		if u, ok := w.cfg.SSO.LogoutURL(c.Value, w.cfg.Server().URL+"/login"); ok {
			// A page moving on, not a redirect: the form's POST may only
			// be redirected to this origin (CSP form-action 'self').
			w.render(rw, r, "signed_out", http.StatusOK, page{Title: "Signed out", Data: signedIn{Next: u}})
			return
		}
	}
	http.Redirect(rw, r, "/login", http.StatusSeeOther)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
