package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/jsonkeys"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// flagForm is a flag as the edit form shows it: values as JSON text.
type flagForm struct {
	Key, Type, Default, Rules, Description string
	Team                                   string
	Enabled                                bool
	Editing                                string // the key of the flag being edited ("" for a new one)
}

func formOf(f wire.Flag) flagForm {
	rules, _ := json.MarshalIndent(f.Rules, "", "  ")
	if len(f.Rules) == 0 {
		rules = []byte("[]")
	}
	return flagForm{Key: f.Key, Type: f.Type, Default: string(f.Default), Rules: string(rules), Description: f.Description, Enabled: f.Enabled, Editing: f.Key, Team: f.Team}
}

func (w *Web) flags(rw http.ResponseWriter, r *http.Request, s store.Session) {
	rows, err := w.flagRows(r)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	form := flagForm{Type: wire.FlagBoolean, Default: "false", Rules: "[]", Enabled: true}
	var usage *wire.FlagUsage
	if k := r.URL.Query().Get("edit"); k != "" {
		f, err := w.fl.Flag(r.Context(), w.actor(r, s), k)
		if err == nil {
			form = formOf(f)
			// Who evaluates it: a flag nobody reads can go.
			if u, err := w.fl.FlagUsage(r.Context(), w.actor(r, s), k); err == nil {
				usage = &u
			}
		}
	}
	w.render(rw, r, "flags", http.StatusOK, page{Title: "Feature flags", Nav: "flags", Admin: s.Admin.Name, CSRF: s.CSRF,
		Flash: w.message(rw, r, "f"), Error: w.message(rw, r, "e"), Data: map[string]any{"Flags": rows, "Form": form, "Usage": usage}})
}

// flagRow is a flag with who evaluated it: a flag nobody read for a week
// can go.
type flagRow struct {
	wire.Flag
	Usage store.UsageSummary
}

func (w *Web) flagRows(r *http.Request) ([]flagRow, error) {
	fl, _, err := w.fl.ListFlags(r.Context(), w.requestActor(r))
	if err != nil {
		return nil, err
	}
	usage, err := w.db.FlagUsageSummary(r.Context(), w.now())
	if err != nil {
		return nil, err
	}
	rows := make([]flagRow, 0, len(fl))
	for _, f := range fl {
		rows = append(rows, flagRow{Flag: f, Usage: usage[f.Key]})
	}
	return rows, nil
}

func (w *Web) saveFlag(rw http.ResponseWriter, r *http.Request, s store.Session) {
	form := flagForm{Key: strings.TrimSpace(r.PostFormValue("key")), Type: r.PostFormValue("type"), Default: strings.TrimSpace(r.PostFormValue("default")),
		Rules: strings.TrimSpace(r.PostFormValue("rules")), Description: strings.TrimSpace(r.PostFormValue("description")), Enabled: r.PostFormValue("enabled") == "on",
		Editing: r.PostFormValue("original"), Team: strings.TrimSpace(r.PostFormValue("team"))}
	fail := func(msg string) {
		fl, _ := w.flagRows(r)
		w.render(rw, r, "flags", http.StatusBadRequest, page{Title: "Feature flags", Nav: "flags", Admin: s.Admin.Name, CSRF: s.CSRF,
			Error: msg, Data: map[string]any{"Flags": fl, "Form": form}})
	}
	if form.Editing != "" && form.Editing != form.Key {
		form.Key = form.Editing
		fail("A flag's key cannot change (agents and applications ask for it by key): create a new flag with the new key, then delete " + form.Editing + ".")
		return
	}
	f := wire.Flag{Key: form.Key, Type: form.Type, Enabled: form.Enabled, Default: json.RawMessage(form.Default), Description: form.Description, Team: form.Team}
	if form.Rules != "" {
		dec := json.NewDecoder(strings.NewReader(form.Rules))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f.Rules); err != nil {
			fail("Rules: " + jsonProblem(err, form.Rules) + ". They are a JSON list of rules, e.g. [{\"tags\": [\"env:prod\"], \"value\": true}].")
			return
		}
		if err := jsonkeys.Check([]byte(form.Rules), &f.Rules); err != nil {
			fail("Rules: " + err.Error() + ".")
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

// jsonProblem says what is wrong with a JSON text in a user's words, not
// Go's ("cannot unmarshal object into Go value of type []wire.FlagRule").
func jsonProblem(err error, text string) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line := 1 + strings.Count(text[:min(int(syn.Offset), len(text))], "\n")
		return fmt.Sprintf("not valid JSON on line %d (%s)", line, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		where := "the whole value"
		if typ.Field != "" {
			where = strconv.Quote(typ.Field)
		}
		return fmt.Sprintf("%s must be %s, not %s", where, kindName(typ.Type.Kind()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "not valid JSON: it ends early (a bracket, brace or quote is not closed)"
	case errors.Is(err, io.EOF):
		return "empty"
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if strings.HasPrefix(msg, "unknown field") {
		msg += " (a rule knows tags, os, arch, names, min_version, max_version, percentage and value)"
	}
	return msg
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64:
		return "a number"
	}
	return "something else"
}
