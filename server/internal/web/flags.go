package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// flagForm is a flag as the edit form shows it: values as JSON text.
type flagForm struct {
	Key, Type, Default, Rules, Description string
	Enabled                                bool
}

func formOf(f wire.Flag) flagForm {
	rules, _ := json.MarshalIndent(f.Rules, "", "  ")
	if len(f.Rules) == 0 {
		rules = []byte("[]")
	}
	return flagForm{Key: f.Key, Type: f.Type, Default: string(f.Default), Rules: string(rules), Description: f.Description, Enabled: f.Enabled}
}

func (w *Web) flags(rw http.ResponseWriter, r *http.Request, s store.Session) {
	fl, _, err := w.db.ListFlags(r.Context())
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	form := flagForm{Type: wire.FlagBoolean, Default: "false", Rules: "[]", Enabled: true}
	if k := r.URL.Query().Get("edit"); k != "" {
		f, err := w.db.Flag(r.Context(), k)
		if err == nil {
			form = formOf(f)
		}
	}
	w.render(rw, r, "flags", http.StatusOK, page{Title: "Feature flags", Nav: "flags", Admin: s.Admin.Name, CSRF: s.CSRF,
		Flash: w.message(rw, r, "f"), Error: w.message(rw, r, "e"), Data: map[string]any{"Flags": fl, "Form": form}})
}

func (w *Web) saveFlag(rw http.ResponseWriter, r *http.Request, s store.Session) {
	form := flagForm{Key: strings.TrimSpace(r.PostFormValue("key")), Type: r.PostFormValue("type"), Default: strings.TrimSpace(r.PostFormValue("default")),
		Rules: strings.TrimSpace(r.PostFormValue("rules")), Description: strings.TrimSpace(r.PostFormValue("description")), Enabled: r.PostFormValue("enabled") == "on"}
	fail := func(msg string) {
		fl, _, _ := w.db.ListFlags(r.Context())
		w.render(rw, r, "flags", http.StatusBadRequest, page{Title: "Feature flags", Nav: "flags", Admin: s.Admin.Name, CSRF: s.CSRF,
			Error: msg, Data: map[string]any{"Flags": fl, "Form": form}})
	}
	f := wire.Flag{Key: form.Key, Type: form.Type, Enabled: form.Enabled, Default: json.RawMessage(form.Default), Description: form.Description}
	if form.Rules != "" {
		dec := json.NewDecoder(strings.NewReader(form.Rules))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f.Rules); err != nil {
			fail("Rules must be a JSON list of rules: " + err.Error())
			return
		}
	}
	saved, err := w.fl.SetFlag(r.Context(), w.actor(r, s), f)
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) && we.Code != wire.CodeInternal {
			fail(we.Message)
			return
		}
		w.internal(rw, r, err)
		return
	}
	w.redirect(rw, r, "/flags", "Flag "+saved.Key+" saved; online agents have it within a second.", "")
}

func (w *Web) toggleFlag(rw http.ResponseWriter, r *http.Request, s store.Session) {
	saved, err := w.fl.ToggleFlag(r.Context(), w.actor(r, s), r.PathValue("key"))
	if errors.Is(err, store.ErrNotFound) {
		w.fail(rw, r, http.StatusNotFound, "No such flag.")
		return
	}
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	state := "disabled"
	if saved.Enabled {
		state = "enabled"
	}
	w.redirect(rw, r, "/flags", "Flag "+saved.Key+" "+state+".", "")
}

func (w *Web) deleteFlag(rw http.ResponseWriter, r *http.Request, s store.Session) {
	key := r.PathValue("key")
	if err := w.fl.DeleteFlag(r.Context(), w.actor(r, s), key); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			w.fail(rw, r, http.StatusNotFound, "No such flag.")
			return
		}
		w.internal(rw, r, err)
		return
	}
	w.redirect(rw, r, "/flags", "Flag "+key+" deleted.", "")
}
