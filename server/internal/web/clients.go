package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// The Clients page: applications that read flags from the server over
// OFREP with a client key — made, listed, enabled, disabled and rotated in
// bulk; a new key is shown once.

func (w *Web) clientsPage(rw http.ResponseWriter, r *http.Request, s store.Session) {
	cs, err := w.fl.FlagClients(r.Context(), w.actor(r, s))
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	w.render(rw, r, "clients", http.StatusOK, page{Title: "Flag clients", Nav: "clients", Admin: s.Admin.Name, CSRF: s.CSRF,
		Flash: w.message(rw, r, "f"), Error: w.message(rw, r, "e"), Data: map[string]any{"Clients": cs, "Base": w.baseURL()}})
}

// baseURL is the server's URL as agents reach it (the OFREP base URL).
func (w *Web) baseURL() string {
	if w.cfg.Server == nil {
		return ""
	}
	return w.cfg.Server().URL
}

// clientRefused goes back to the clients page with a refusal's reason.
func (w *Web) clientRefused(rw http.ResponseWriter, r *http.Request, err error) {
	var we *wire.Error
	if errors.As(err, &we) && we.Code != wire.CodeInternal {
		w.redirect(rw, r, "/clients", "", we.Message)
		return
	}
	w.internal(rw, r, err)
}

func (w *Web) createClient(rw http.ResponseWriter, r *http.Request, s store.Session) {
	req := wire.CreateFlagClientRequest{Name: strings.TrimSpace(r.PostFormValue("name")), Kind: r.PostFormValue("kind"),
		Team: strings.TrimSpace(r.PostFormValue("team")), Description: strings.TrimSpace(r.PostFormValue("description"))}
	if v := strings.TrimSpace(r.PostFormValue("rate")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			w.redirect(rw, r, "/clients", "", "The rate is a number of requests a minute.")
			return
		}
		req.RatePerMinute = n
	}
	for _, a := range strings.FieldsFunc(r.PostFormValue("allow"), func(c rune) bool { return c == ',' || c == ' ' }) {
		req.Allow = append(req.Allow, a)
	}
	resp, err := w.fl.CreateFlagClient(r.Context(), w.actor(r, s), req)
	if err != nil {
		w.clientRefused(rw, r, err)
		return
	}
	w.showKeys(rw, r, s, "Client "+resp.Client.Name+" created", []wire.FlagClientKeyResponse{resp})
}

// showKeys shows new client keys once.
func (w *Web) showKeys(rw http.ResponseWriter, r *http.Request, s store.Session, title string, rs []wire.FlagClientKeyResponse) {
	v := shownOnce{Title: title, Back: "/clients", BackLabel: "Flag clients",
		Note: "Give the key to the application over a safe channel: it evaluates flags with any OpenFeature OFREP provider, with this server as the base URL and Authorization: Bearer KEY. Only its hash is kept: it cannot be shown again."}
	for _, k := range rs {
		v.Items = append(v.Items, shownItem{k.Client.Name, k.Secret})
	}
	http.Redirect(rw, r, "/admins/created/"+w.secrets.put(s.CSRF, v), http.StatusSeeOther)
}

func (w *Web) bulkClients(rw http.ResponseWriter, r *http.Request, s store.Session) {
	if err := r.ParseForm(); err != nil {
		w.redirect(rw, r, "/clients", "", "The form could not be read.")
		return
	}
	req := wire.BulkFlagClientsRequest{Names: r.PostForm["client"], Action: r.PostFormValue("action")}
	if len(req.Names) == 0 {
		w.redirect(rw, r, "/clients", "", "Select clients first.")
		return
	}
	resp, err := w.fl.BulkFlagClients(r.Context(), w.actor(r, s), req)
	if err != nil {
		w.clientRefused(rw, r, err)
		return
	}
	if req.Action == "rotate" {
		w.showKeys(rw, r, s, "New keys", resp.Done)
		return
	}
	w.redirect(rw, r, "/clients", strconv.Itoa(len(resp.Done))+" clients "+req.Action+"d.", "")
}
