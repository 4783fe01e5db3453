package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// dnsForm is the add-a-record form as the admin filled it.
type dnsForm struct{ Name, Type, Value string }

func (w *Web) dnsPage(rw http.ResponseWriter, r *http.Request, s store.Session) {
	w.renderDNS(rw, r, s, http.StatusOK, dnsForm{Type: "A"}, w.message(rw, r, "f"), w.message(rw, r, "e"))
}

func (w *Web) renderDNS(rw http.ResponseWriter, r *http.Request, s store.Session, status int, form dnsForm, flash, errMsg string) {
	recs, err := w.fl.DNSRecords(r.Context())
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	w.render(rw, r, "dns", status, page{Title: "Names", Nav: "dns", Admin: s.Admin.Name, CSRF: s.CSRF, Flash: flash, Error: errMsg,
		Data: map[string]any{"Domain": recs.Domain, "Records": recs.Records, "Form": form, "Types": []string{"A", "AAAA", "CNAME"}}})
}

func (w *Web) addDNS(rw http.ResponseWriter, r *http.Request, s store.Session) {
	form := dnsForm{Name: strings.TrimSpace(r.PostFormValue("name")), Type: r.PostFormValue("type"), Value: strings.TrimSpace(r.PostFormValue("value"))}
	rec, err := w.fl.AddDNSRecord(r.Context(), w.actor(r, s), wire.DNSRecord{Name: form.Name, Type: form.Type, Value: form.Value})
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) && we.Code != wire.CodeInternal {
			w.renderDNS(rw, r, s, http.StatusBadRequest, form, "", we.Message+" Nothing was changed.")
			return
		}
		w.internal(rw, r, err)
		return
	}
	w.redirect(rw, r, "/dns", "Added "+rec.Name+" "+rec.Type+" "+rec.Value+"; every agent answers it from its next map.", "")
}

func (w *Web) removeDNS(rw http.ResponseWriter, r *http.Request, s store.Session) {
	name, rtype := r.PathValue("name"), r.PostFormValue("type")
	if _, err := w.fl.RemoveDNSRecords(r.Context(), w.actor(r, s), name, rtype, ""); errors.Is(err, store.ErrNotFound) {
		w.fail(rw, r, http.StatusNotFound, "No such record.")
		return
	} else if err != nil {
		var we *wire.Error
		if errors.As(err, &we) && we.Code != wire.CodeInternal {
			w.fail(rw, r, http.StatusBadRequest, we.Message)
			return
		}
		w.internal(rw, r, err)
		return
	}
	w.redirect(rw, r, "/dns", "Removed the "+rtype+" records of "+name+".", "")
}
