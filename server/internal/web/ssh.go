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

// sshSessionsPage lists SSH sessions over the overlay, newest first
// (?machine= narrows to one machine), each with its recording's player.
func (w *Web) sshSessionsPage(rw http.ResponseWriter, r *http.Request, s store.Session) {
	machine := r.URL.Query().Get("machine")
	list, err := w.fl.SSHSessions(r.Context(), w.actor(r, s), machine, 200)
	if err != nil {
		w.fail(rw, r, http.StatusNotFound, "No machine is called "+machine+".")
		return
	}
	w.render(rw, r, "ssh_sessions", http.StatusOK, page{Title: "SSH sessions", Nav: "ssh", Admin: s.Admin.Name, CSRF: s.CSRF,
		Data: sshSessionsView{Machine: machine, Sessions: list}})
}

type sshSessionsView struct {
	Machine  string
	Sessions []wire.SSHSession
}

// sshPlayPage plays a session's recording in the page (xterm.js).
func (w *Web) sshPlayPage(rw http.ResponseWriter, r *http.Request, s store.Session) {
	ss, err := w.fl.SSHSession(r.Context(), r.PathValue("id"))
	if err != nil || !ss.Recorded {
		w.fail(rw, r, http.StatusNotFound, "There is no recording of this session.")
		return
	}
	rw.Header().Set("Content-Security-Policy", terminalCSP)
	w.render(rw, r, "ssh_play", http.StatusOK, page{Title: "Recording " + ss.ID[:8], Nav: "ssh", Admin: s.Admin.Name, CSRF: s.CSRF, Data: ss})
}

// sshCast serves a session's recording to the player (same origin, the
// admin's session).
func (w *Web) sshCast(rw http.ResponseWriter, r *http.Request, s store.Session) {
	rw.Header().Set("Content-Type", "application/x-asciicast")
	rw.Header().Set("Cache-Control", "no-store")
	if err := w.fl.WriteSSHRecording(r.Context(), r.PathValue("id"), rw); err != nil {
		w.fail(rw, r, http.StatusNotFound, "There is no recording of this session.")
	}
}
