package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// auditRow is an audit event as the page shows it: who and what by name,
// with a link to the object and the change in words.
type auditRow struct {
	wire.AuditEvent
	ActorName  string
	TargetName string
	TargetURL  string
	Changes    []string // "tags: web → web, db"
}

func (w *Web) audit(rw http.ResponseWriter, r *http.Request, s store.Session) {
	q := r.URL.Query()
	f := store.AuditFilter{Action: q.Get("action"), Actor: q.Get("actor"), Target: q.Get("target"), Limit: 50}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			w.fail(rw, r, http.StatusBadRequest, "The page link is malformed.")
			return
		}
		f.Before = n
	}
	// Dates are whole UTC days; "to" includes its day.
	for _, d := range []struct {
		key string
		at  *time.Time
		add int
	}{{"from", &f.Since, 0}, {"to", &f.Until, 1}} {
		if v := q.Get(d.key); v != "" {
			day, err := time.Parse("2006-01-02", v)
			if err != nil {
				w.fail(rw, r, http.StatusBadRequest, "Dates look like 2026-11-24.")
				return
			}
			*d.at = day.AddDate(0, 0, d.add)
		}
	}
	p, err := w.fl.ListAudit(r.Context(), w.actor(r, s), f)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	rows, err := w.auditRows(r.Context(), p.Events)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	next := ""
	if p.Next > 0 {
		v := url.Values{"before": {strconv.FormatInt(p.Next, 10)}}
		for _, k := range []string{"action", "actor", "target", "from", "to"} {
			if q.Get(k) != "" {
				v.Set(k, q.Get(k))
			}
		}
		next = "/audit?" + v.Encode()
	}
	w.render(rw, r, "audit", http.StatusOK, page{Title: "Audit log", Nav: "audit", Admin: s.Admin.Name, CSRF: s.CSRF,
		Data: map[string]any{"Events": rows, "Next": next, "Action": f.Action, "Actor": f.Actor, "Target": f.Target, "From": q.Get("from"), "To": q.Get("to")}})
}

// auditRows names the machines, admins and tokens events refer to (by
// their current names; a deleted machine by the name its events recorded)
// and puts each event's details into words.
func (w *Web) auditRows(ctx context.Context, events []wire.AuditEvent) ([]auditRow, error) {
	var ids []string
	for _, e := range events {
		for _, id := range []string{e.Target, strings.TrimPrefix(e.Actor, "machine:")} {
			if strings.HasPrefix(id, "m_") {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	machines, err := w.db.MachineNames(ctx, slices.Compact(ids))
	if err != nil {
		return nil, err
	}
	// Admins and tokens are few: read once, and only when an event names one.
	admins, tokens := map[string]string{}, map[string]string{}
	var haveAdmins, haveTokens bool
	for _, e := range events {
		switch {
		case strings.HasPrefix(e.Target, "adm_") && !haveAdmins:
			as, err := w.db.ListAdmins(ctx)
			if err != nil {
				return nil, err
			}
			for _, a := range as {
				admins[a.ID] = a.Name
			}
			haveAdmins = true
		case strings.HasPrefix(e.Target, "tok_") && !haveTokens:
			ts, err := w.db.ListTokens(ctx)
			if err != nil {
				return nil, err
			}
			for _, t := range ts {
				tokens[t.ID] = t.Prefix + "…"
			}
			haveTokens = true
		}
	}
	out := make([]auditRow, 0, len(events))
	for _, e := range events {
		row := auditRow{AuditEvent: e, ActorName: e.Actor, TargetName: e.Target, Changes: changes(e.Details)}
		if id, ok := strings.CutPrefix(e.Actor, "machine:"); ok && machines[id] != "" {
			row.ActorName = "machine:" + machines[id]
		}
		t := e.Target
		switch {
		case strings.HasPrefix(t, "m_"):
			row.TargetURL = "/machines/" + t
			if n := machines[t]; n != "" {
				row.TargetName = n
			} else if n, _ := e.Details["name"].(string); n != "" {
				row.TargetName, row.TargetURL = n+" (deleted)", ""
			}
		case strings.HasPrefix(t, "adm_"):
			if n := admins[t]; n != "" {
				row.TargetName = "admin " + n
			}
		case strings.HasPrefix(t, "tok_"):
			row.TargetURL = "/tokens?all=1"
			if n := tokens[t]; n != "" {
				row.TargetName = "token " + n
			}
		case strings.HasPrefix(t, "dns:"):
			row.TargetURL = "/dns"
		case strings.HasPrefix(e.Action, "flag."):
			row.TargetURL = "/flags?edit=" + url.QueryEscape(t)
			row.TargetName = "flag " + t
		}
		out = append(out, row)
	}
	return out, nil
}

// changes puts an event's details into words: "name: web-1 → web-2" for a
// value with its old one (old_X, or previous), "key: value" otherwise.
func changes(d map[string]any) []string {
	keys := make([]string, 0, len(d))
	for k := range d {
		if !strings.HasPrefix(k, "old_") && k != "previous" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []string
	for _, k := range keys {
		old, had := d["old_"+k]
		if !had && k == "version" {
			old, had = d["previous"]
		}
		if had {
			out = append(out, k+": "+words(old)+" → "+words(d[k]))
		} else {
			out = append(out, k+": "+words(d[k]))
		}
	}
	return out
}

// words is a detail's value as text, bounded.
func words(v any) string {
	var s string
	switch v := v.(type) {
	case nil:
		s = "none"
	case string:
		s = v
		if s == "" {
			s = "none"
		}
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = words(x)
		}
		s = strings.Join(parts, ", ")
		if len(v) == 0 {
			s = "none"
		}
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		s = fmt.Sprint(v)
	}
	return wire.ClipFact(s, 160)
}
