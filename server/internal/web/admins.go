package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// shownOnce is a page of secrets shown once: a new admin's password and
// API key, or a new API key.
type shownOnce struct {
	Title, Note string
	Items       []shownItem
	// Back is the page to return to ("" the admins page).
	Back, BackLabel string
}

type shownItem struct{ Label, Value string }

// adminRow is an admin with its API keys.
type adminRow struct {
	wire.Admin
	Keys []wire.APIKey
	You  bool
}

func (w *Web) admins(rw http.ResponseWriter, r *http.Request, s store.Session) {
	as, err := w.db.ListAdmins(r.Context())
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	keys, err := w.db.ListAPIKeys(r.Context())
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	byAdmin := map[string][]wire.APIKey{}
	for _, k := range keys {
		if k.RevokedAt == nil {
			byAdmin[k.Admin] = append(byAdmin[k.Admin], k)
		}
	}
	rows := make([]adminRow, 0, len(as))
	for _, a := range as {
		rows = append(rows, adminRow{Admin: a, Keys: byAdmin[a.Name], You: a.Name == s.Admin.Name})
	}
	groups, err := w.db.Groups(r.Context())
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	w.render(rw, r, "admins", http.StatusOK, page{Title: "Admins and API keys", Nav: "admins", Admin: s.Admin.Name, CSRF: s.CSRF,
		Flash: w.message(rw, r, "f"), Error: w.message(rw, r, "e"), Data: map[string]any{"Admins": rows, "Groups": groups}})
}

// refused goes back to the admins page with a refusal's reason, or fails.
func (w *Web) refused(rw http.ResponseWriter, r *http.Request, err error) {
	var we *wire.Error
	if errors.As(err, &we) && we.Code != wire.CodeInternal {
		w.redirect(rw, r, "/admins", "", we.Message)
		return
	}
	w.internal(rw, r, err)
}

func (w *Web) createAdmin(rw http.ResponseWriter, r *http.Request, s store.Session) {
	name := strings.ToLower(strings.TrimSpace(r.PostFormValue("name")))
	resp, err := w.fl.CreateAdmin(r.Context(), w.actor(r, s), name)
	if err != nil {
		w.refused(rw, r, err)
		return
	}
	http.Redirect(rw, r, "/admins/created/"+w.secrets.put(s.CSRF, shownOnce{
		Title: "Admin " + resp.Admin.Name + " added",
		Note:  "Give these to " + resp.Admin.Name + " over a safe channel. Only their hashes are kept: they cannot be shown again (a lost password is reset with `wirefleet-server admins passwd`).",
		Items: []shownItem{{"Password", resp.Password}, {"API key", resp.APIKey}},
	}), http.StatusSeeOther)
}

func (w *Web) deleteAdmin(rw http.ResponseWriter, r *http.Request, s store.Session) {
	id := r.PathValue("id")
	if id == s.Admin.ID {
		w.redirect(rw, r, "/admins", "", "You cannot delete yourself: ask another admin.")
		return
	}
	if err := w.fl.DeleteAdmin(r.Context(), w.actor(r, s), id); err != nil {
		w.refused(rw, r, err)
		return
	}
	w.redirect(rw, r, "/admins", "Admin deleted: their sessions and API keys no longer work.", "")
}

// apiKeyLifetimes are the lifetimes the form offers.
var apiKeyLifetimes = map[string]time.Duration{"": 0, "720h": 720 * time.Hour, "2160h": 2160 * time.Hour, "8760h": 8760 * time.Hour}

func (w *Web) createAPIKey(rw http.ResponseWriter, r *http.Request, s store.Session) {
	ttl, ok := apiKeyLifetimes[r.PostFormValue("expires")]
	if !ok {
		w.redirect(rw, r, "/admins", "", "Choose a lifetime from the list.")
		return
	}
	resp, err := w.fl.CreateAPIKey(r.Context(), w.actor(r, s), s.Admin.Name, ttl)
	if err != nil {
		w.refused(rw, r, err)
		return
	}
	http.Redirect(rw, r, "/admins/created/"+w.secrets.put(s.CSRF, shownOnce{
		Title: "API key " + resp.Key.Prefix + "… created",
		Note:  "It acts as you (" + s.Admin.Name + ") on the API and the CLI (--api-key). Only its hash is kept: it cannot be shown again.",
		Items: []shownItem{{"API key", resp.Secret}},
	}), http.StatusSeeOther)
}

func (w *Web) revokeAPIKey(rw http.ResponseWriter, r *http.Request, s store.Session) {
	if err := w.fl.RevokeAPIKey(r.Context(), w.actor(r, s), r.PathValue("id")); err != nil {
		w.refused(rw, r, err)
		return
	}
	w.redirect(rw, r, "/admins", "API key revoked: it no longer works.", "")
}

// secretShown is the one view of a new admin's or key's secrets.
func (w *Web) secretShown(rw http.ResponseWriter, r *http.Request, s store.Session) {
	v, ok := w.secrets.take(r.PathValue("key"), s.CSRF)
	if !ok {
		w.fail(rw, r, http.StatusGone, "Secrets are shown once, and these were shown already (or this page is from another session). They are not kept: reset the password or create another key.")
		return
	}
	if v.Back == "" {
		v.Back, v.BackLabel = "/admins", "Admins"
	}
	w.render(rw, r, "shown_once", http.StatusOK, page{Title: v.Title, Nav: "admins", Admin: s.Admin.Name, CSRF: s.CSRF, Data: v})
}
