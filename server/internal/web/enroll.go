package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/remoteaddr"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// enrollPage shows a machine's interactive enrollment request, for its
// owner to approve or deny. Reaching it needs a session: an admin signed
// in (with single sign-on when the server has it).
func (w *Web) enrollPage(rw http.ResponseWriter, r *http.Request, s store.Session) {
	p, err := w.db.PendingByCode(r.Context(), strings.ToUpper(r.PathValue("code")))
	if errors.Is(err, store.ErrNotFound) {
		w.fail(rw, r, http.StatusNotFound, "There is no enrollment request with this code. Check the link the machine printed, or run enroll on it again.")
		return
	}
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	w.render(rw, r, "enroll", http.StatusOK, page{Title: "Add a machine", Admin: s.Admin.Name, CSRF: s.CSRF, Member: s.Admin.Role == wire.RoleMember, Flash: w.message(rw, r, "f"),
		Data: enrollView{PendingEnrollment: p.PendingEnrollment, Viewer: remoteaddr.IP(r)}})
}

// enrollView is a request with where its reader is: a request from
// another address than the reader's may be someone else's machine (a
// link sent to phish an approval), which the page says.
type enrollView struct {
	wire.PendingEnrollment
	Viewer string
}

func (w *Web) decideEnroll(rw http.ResponseWriter, r *http.Request, s store.Session) {
	code := strings.ToUpper(r.PathValue("code"))
	var approve bool
	switch r.PathValue("decision") {
	case "approve":
		approve = true
	case "deny":
	default:
		w.fail(rw, r, http.StatusNotFound, "There is no page at this address.")
		return
	}
	p, err := w.fl.DecideEnrollment(r.Context(), w.actor(r, s), code, approve)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	msg := "Denied: the machine stops waiting."
	if approve {
		msg = "Approved: " + p.Hostname + " joins the fleet in a moment, owned by you."
	}
	w.redirect(rw, r, "/e/"+url.PathEscape(code), msg, "")
}
