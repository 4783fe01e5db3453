package web

import (
	"net/http"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// memberNote tells a member what the page is for them.
const memberNote = "You are signed in as a member: you may approve the machines you add. Run `wirefleet-agent enroll --server URL` on the machine, open the link it prints and approve it there. The rest of this page is for admins."

// adminsOnly refuses members (they may only approve their machines).
func (w *Web) adminsOnly(h func(http.ResponseWriter, *http.Request, store.Session)) func(http.ResponseWriter, *http.Request, store.Session) {
	return func(rw http.ResponseWriter, r *http.Request, s store.Session) {
		if s.Admin.Role == wire.RoleMember {
			w.fail(rw, r, http.StatusForbidden, memberNote)
			return
		}
		h(rw, r, s)
	}
}

// teamsToo admits admins and members with a team role (the pages then
// show and change only what the member's teams may: fleet decides).
func (w *Web) teamsToo(h func(http.ResponseWriter, *http.Request, store.Session)) func(http.ResponseWriter, *http.Request, store.Session) {
	return func(rw http.ResponseWriter, r *http.Request, s store.Session) {
		if s.Admin.Role == wire.RoleMember && !inTeams(scopeOf(r)) {
			w.fail(rw, r, http.StatusForbidden, memberNote)
			return
		}
		h(rw, r, s)
	}
}

// memberHome is where a member lands after signing in without a link.
func (w *Web) memberHome(rw http.ResponseWriter, r *http.Request, s store.Session) {
	if s.Admin.Role != wire.RoleMember || inTeams(scopeOf(r)) {
		http.Redirect(rw, r, "/machines", http.StatusSeeOther)
		return
	}
	w.render(rw, r, "error", http.StatusOK, page{Title: "Signed in", Admin: s.Admin.Name, CSRF: s.CSRF, Member: true, Flash: memberNote})
}
