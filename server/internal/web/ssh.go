package web

import (
	"net/http"
	"net/url"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// sshCheckPage shows a login waiting for its confirmation (an ssh
// "check" rule) to the owner of the machine it comes from; nobody else
// can see or confirm it.
func (w *Web) sshCheckPage(rw http.ResponseWriter, r *http.Request, s store.Session) {
	c, err := w.fl.SSHCheckFor(r.Context(), s.Admin.Name, r.PathValue("id"))
	if err != nil {
		w.fail(rw, r, http.StatusNotFound, "There is no login waiting for your confirmation at this address. Check the link ssh printed; only the owner of the machine it comes from can confirm it.")
		return
	}
	w.render(rw, r, "ssh_check", http.StatusOK, page{Title: "Confirm an SSH login", Admin: s.Admin.Name, CSRF: s.CSRF, Member: s.Admin.Role == wire.RoleMember,
		Flash: w.message(rw, r, "f"), Data: c})
}

func (w *Web) confirmSSHCheck(rw http.ResponseWriter, r *http.Request, s store.Session) {
	id := r.PathValue("id")
	if _, err := w.fl.ConfirmSSHCheck(r.Context(), w.actor(r, s), s.Admin.Name, id); err != nil {
		w.fail(rw, r, http.StatusNotFound, "There is no login waiting for your confirmation at this address.")
		return
	}
	w.redirect(rw, r, "/ssh/check/"+url.PathEscape(id), "Confirmed: the login goes on in a moment.", "")
}
