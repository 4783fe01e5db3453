package web

import (
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/remoteaddr"
	"github.com/wirefleet/wirefleet/server/internal/secret"
	"github.com/wirefleet/wirefleet/server/internal/sso"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// signedIn is the page after a single sign-on: who, and where next.
type signedIn struct{ Name, Next string }

// loginPage is what the sign-in page offers.
type loginPage struct {
	SSO, Password bool
	Issuer        string // the provider's host, for the button
	Next          string // where to go after signing in ("" for the machines)
}

const (
	// ssoCookie binds a sign-in in progress to the browser that began it:
	// the callback's state must equal it (no login CSRF). Lax, since the
	// callback is a top-level navigation from the provider.
	ssoCookie = "wf_sso"
	// ssoMaxAge is how long a sign-in may take at the provider.
	ssoMaxAge = 10 * time.Minute
	// ssoNextCookie is where to go after the sign-in (a path here).
	ssoNextCookie = "wf_sso_next"
	// idTokenCookie keeps an SSO sign-in's ID token for sign-out (the
	// id_token_hint of RP-initiated logout); only /logout receives it.
	idTokenCookie = "wf_idt"
)

func (w *Web) ssoIssuer() string {
	if w.cfg.SSO == nil {
		return ""
	}
	if u, err := url.Parse(w.cfg.SSO.Issuer()); err == nil && u.Host != "" {
		return u.Host
	}
	return w.cfg.SSO.Issuer()
}

// ssoStart sends the browser to the provider with a fresh state, nonce and
// PKCE challenge; only the state's hash is stored, with the nonce and the
// verifier, for one callback.
func (w *Web) ssoStart(rw http.ResponseWriter, r *http.Request) {
	if w.cfg.SSO == nil {
		w.fail(rw, r, http.StatusNotFound, "Single sign-on is not configured on this server.")
		return
	}
	if !w.login.Allow(remoteaddr.IP(r), w.now()) {
		w.showLogin(rw, r, http.StatusTooManyRequests, "Too many sign-in attempts from your address. Wait a minute and try again.")
		return
	}
	l, to := w.cfg.SSO.Begin()
	if err := w.fl.SaveSSOLogin(r.Context(), secret.Hash(l.State), store.SSOLogin{Nonce: l.Nonce, Verifier: l.Verifier}, ssoMaxAge); err != nil {
		w.internal(rw, r, err)
		return
	}
	http.SetCookie(rw, &http.Cookie{Name: ssoCookie, Value: l.State, Path: "/sso/", HttpOnly: true, Secure: w.cfg.Secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(ssoMaxAge / time.Second)})
	if next := safeNext(r.URL.Query().Get("next")); next != "" {
		http.SetCookie(rw, &http.Cookie{Name: ssoNextCookie, Value: url.QueryEscape(next), Path: "/sso/", HttpOnly: true, Secure: w.cfg.Secure,
			SameSite: http.SameSiteLaxMode, MaxAge: int(ssoMaxAge / time.Second)})
	}
	http.Redirect(rw, r, to, http.StatusSeeOther)
}

// ssoCallback finishes a sign-in: the state must be this browser's and
// unused, the code is redeemed with the PKCE verifier, the ID token
// verified with the nonce, and the user admitted by domain or group. The
// admin is created on the first sign-in, named by the e-mail address.
func (w *Web) ssoCallback(rw http.ResponseWriter, r *http.Request) {
	if w.cfg.SSO == nil {
		w.fail(rw, r, http.StatusNotFound, "Single sign-on is not configured on this server.")
		return
	}
	ip := remoteaddr.IP(r)
	refuse := func(status int, msg, reason string) {
		// Nobody is signed in here: without a limit, anyone could fill
		// the audit log (300 callbacks once wrote 300 rows in 26 s).
		// Refusals share the sign-in limit of the address; past it they
		// are counted, and the next one audited says how many.
		if !w.login.Allow(ip, w.now()) {
			w.refusals.skip(ip)
			w.showLogin(rw, r, http.StatusTooManyRequests, "Too many sign-in attempts from your address. Wait a minute and try again.")
			return
		}
		details := map[string]any{"reason": reason}
		if n := w.refusals.take(ip); n > 0 {
			details["repeats_not_recorded"] = n
		}
		_ = w.fl.Audit(r.Context(), store.Actor{Name: "anonymous", SourceIP: ip}, "admin.sso_refused", "", details)
		w.showLogin(rw, r, status, msg)
	}
	q := r.URL.Query()
	http.SetCookie(rw, &http.Cookie{Name: ssoCookie, Value: "", Path: "/sso/", MaxAge: -1})
	if e := q.Get("error"); e != "" {
		refuse(http.StatusUnauthorized, "The identity provider did not sign you in. Try again.", "provider error: "+clip(e, 100))
		return
	}
	state := q.Get("state")
	c, err := r.Cookie(ssoCookie)
	if err != nil || state == "" || c.Value != state {
		refuse(http.StatusBadRequest, "This sign-in did not start in this browser, or it was already used. Start again.", "state does not match the browser's")
		return
	}
	l, err := w.fl.TakeSSOLogin(r.Context(), secret.Hash(state), ssoMaxAge)
	if errors.Is(err, store.ErrNotFound) {
		refuse(http.StatusBadRequest, "This sign-in expired or was already used. Start again.", "unknown, used or expired state")
		return
	}
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	id, err := w.cfg.SSO.Finish(r.Context(), sso.Login{State: state, Nonce: l.Nonce, Verifier: l.Verifier}, q.Get("code"))
	if errors.Is(err, sso.ErrNotAdmitted) {
		_ = w.fl.Audit(r.Context(), store.Actor{Name: "sso:" + clip(id.Email, 200), SourceIP: ip}, "admin.sso_refused", "", map[string]any{"reason": err.Error(), "groups": id.Groups})
		w.showLogin(rw, r, http.StatusForbidden, "Your account ("+id.Email+") is not allowed to administer this fleet. Ask an admin to add you to an admin group.")
		return
	}
	if err != nil {
		w.log.Warn("web: single sign-on failed", "err", err)
		refuse(http.StatusUnauthorized, "Single sign-on failed: the identity provider's answer could not be verified. Try again.", err.Error())
		return
	}
	actor := store.Actor{Name: id.Role + ":" + id.Email + " (sso)", SourceIP: ip}
	ad, _, err := w.fl.SSOAdmin(r.Context(), actor, id.Subject, id.Email, id.Role)
	if we := (*wire.Error)(nil); errors.As(err, &we) && we.Code == wire.CodeForbidden {
		_ = w.fl.Audit(r.Context(), actor, "admin.sso_refused", "", map[string]any{"reason": we.Message})
		w.showLogin(rw, r, http.StatusForbidden, "Your account ("+id.Email+") has been deactivated in your company's directory.")
		return
	}
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	if id.HasGroups {
		// The directory groups come with each sign-in: the policy's
		// directory:NAME follows them from now on.
		if err := w.fl.SyncGroups(r.Context(), actor, ad.ID, id.Groups); err != nil {
			w.internal(rw, r, err)
			return
		}
	}
	if err := w.startSession(rw, r, actor, ad.ID); err != nil {
		w.internal(rw, r, err)
		return
	}
	if len(id.IDToken) < 3500 { // a cookie holds about 4 KB; without it sign-out stays local
		// Sign-out hands it to the provider as id_token_hint, which ends
		// the provider's session too without asking.
		http.SetCookie(rw, &http.Cookie{Name: idTokenCookie, Value: id.IDToken, Path: "/logout", HttpOnly: true, Secure: w.cfg.Secure,
			SameSite: http.SameSiteStrictMode, MaxAge: int(w.cfg.SessionTTL / time.Second)})
	}
	_ = w.fl.Audit(r.Context(), actor, "admin.sso_login", ad.ID, map[string]any{"subject": id.Subject, "groups": id.Groups})
	// The session cookie is SameSite=Strict, and this response ends a
	// navigation the provider started: a redirect would arrive without it.
	// A page of ours moving on makes the next request same-site.
	next := "/machines"
	if ad.Role == wire.RoleMember {
		next = "/member"
	}
	if c, err := r.Cookie(ssoNextCookie); err == nil {
		if v, err := url.QueryUnescape(c.Value); err == nil && safeNext(v) != "" {
			next = safeNext(v)
		}
	}
	http.SetCookie(rw, &http.Cookie{Name: ssoNextCookie, Value: "", Path: "/sso/", MaxAge: -1})
	w.render(rw, r, "signed_in", http.StatusOK, page{Title: "Signed in", Data: signedIn{Name: ad.Name, Next: next}})
}

// refusalCounts counts, per source address, the SSO refusals that were
// over the rate limit and so not written to the audit log one by one.
// It holds at most maxRefusalKeys addresses; the rest share one count.
type refusalCounts struct {
	mu sync.Mutex
	n  map[string]int
}

const maxRefusalKeys = 10_000

func (c *refusalCounts) skip(ip string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	if _, ok := c.n[ip]; !ok && len(c.n) >= maxRefusalKeys {
		ip = ""
	}
	c.n[ip]++
}

// take returns and forgets the count of ip.
func (c *refusalCounts) take(ip string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n[ip]
	delete(c.n, ip)
	return n
}
