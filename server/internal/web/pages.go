package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/fleet"
	"github.com/wirefleet/wirefleet/server/internal/oneliner"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

func (w *Web) machine(rw http.ResponseWriter, r *http.Request, s store.Session) {
	m, err := w.fl.Machine(r.Context(), w.actor(r, s), r.PathValue("id"))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			w.fail(rw, r, http.StatusNotFound, "No such machine. It may have been deleted.")
			return
		}
		w.internal(rw, r, err)
		return
	}
	h, err := w.db.Health(r.Context(), m.ID, 120)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	reach, err := w.reach(r, m)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	updates, err := w.db.UpdateHistory(r.Context(), m.ID, 20)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	events, err := w.db.ListAudit(r.Context(), store.AuditFilter{Target: m.ID, Limit: 20})
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	var routes []wire.Route
	if m.Routes != nil {
		all, err := w.fl.Routes(r.Context())
		if err != nil {
			w.internal(rw, r, err)
			return
		}
		for _, rt := range all {
			if rt.Machine == m.ID {
				routes = append(routes, rt)
			}
		}
	}
	w.render(rw, r, "machine", http.StatusOK, page{Title: m.Name, Nav: "machines", Admin: s.Admin.Name, CSRF: s.CSRF,
		Flash: w.message(rw, r, "f"), Error: w.message(rw, r, "e"),
		Data: map[string]any{"M": m, "Row": w.rowOf(m, w.now()), "Health": h, "Chart": chart(h.History), "Events": events.Events, "Updates": updates, "Reach": reach, "Live": w.liveOf(m, h), "Routes": routes, "Inventory": inventoryRows(m.Facts)}})
}

// mutate runs a machine change through the service (which returns once
// every affected agent has been told) and redirects with a message; a
// refused change goes back with the reason.
func (w *Web) mutate(rw http.ResponseWriter, r *http.Request, back string, fn func() (wire.Machine, error), flash func(wire.Machine) string) {
	m, err := fn()
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) && we.Code != wire.CodeInternal {
			w.redirect(rw, r, back, "", we.Message)
			return
		}
		w.internal(rw, r, err)
		return
	}
	if back == "" {
		back = "/machines/" + m.ID
	}
	w.redirect(rw, r, back, flash(m), "")
}

func (w *Web) revoke(rw http.ResponseWriter, r *http.Request, s store.Session) {
	id := r.PathValue("id")
	w.mutate(rw, r, "/machines/"+url.PathEscape(id), func() (wire.Machine, error) {
		return w.fl.RevokeMachine(r.Context(), w.actor(r, s), id)
	}, func(m wire.Machine) string { return "Machine " + m.Name + " revoked: its credential no longer works." })
}

func (w *Web) rotateKey(rw http.ResponseWriter, r *http.Request, s store.Session) {
	id := r.PathValue("id")
	w.mutate(rw, r, "/machines/"+url.PathEscape(id), func() (wire.Machine, error) {
		return w.fl.RequestKeyRotation(r.Context(), w.actor(r, s), id)
	}, func(m wire.Machine) string {
		return "Asked " + m.Name + " to rotate its WireGuard key: its agent does at its next map (at once when online), and its peers follow."
	})
}

func (w *Web) setExpiry(rw http.ResponseWriter, r *http.Request, s store.Session) {
	id := r.PathValue("id")
	expiry := r.PostFormValue("expiry")
	w.mutate(rw, r, "/machines/"+url.PathEscape(id), func() (wire.Machine, error) {
		return w.fl.SetMachineExpiry(r.Context(), w.actor(r, s), id, expiry)
	}, func(m wire.Machine) string {
		if m.ExpiryDisabled {
			return m.Name + " no longer expires."
		}
		return m.Name + " expires " + fmtTime(m.ExpiresAt) + "."
	})
}

func (w *Web) delete(rw http.ResponseWriter, r *http.Request, s store.Session) {
	id := r.PathValue("id")
	w.mutate(rw, r, "/machines", func() (wire.Machine, error) {
		return w.fl.DeleteMachine(r.Context(), w.actor(r, s), id)
	}, func(m wire.Machine) string { return "Machine " + m.Name + " deleted." })
}

func (w *Web) rename(rw http.ResponseWriter, r *http.Request, s store.Session) {
	id := r.PathValue("id")
	name := strings.TrimSpace(r.PostFormValue("name"))
	w.mutate(rw, r, "/machines/"+url.PathEscape(id), func() (wire.Machine, error) {
		return w.fl.UpdateMachine(r.Context(), w.actor(r, s), id, fleet.MachineUpdate{Name: &name})
	}, func(m wire.Machine) string { return "Renamed to " + m.Name + "." })
}

func (w *Web) retag(rw http.ResponseWriter, r *http.Request, s store.Session) {
	id := r.PathValue("id")
	tags := splitTags(r.PostFormValue("tags"))
	w.mutate(rw, r, "/machines/"+url.PathEscape(id), func() (wire.Machine, error) {
		return w.fl.UpdateMachine(r.Context(), w.actor(r, s), id, fleet.MachineUpdate{Tags: &tags})
	}, func(m wire.Machine) string { return "Tags saved." })
}

// pin pins the machine's agent version; an empty version unpins it.
func (w *Web) pin(rw http.ResponseWriter, r *http.Request, s store.Session) {
	id := r.PathValue("id")
	version := strings.TrimSpace(r.PostFormValue("version"))
	w.mutate(rw, r, "/machines/"+url.PathEscape(id), func() (wire.Machine, error) {
		return w.fl.UpdateMachine(r.Context(), w.actor(r, s), id, fleet.MachineUpdate{PinnedVersion: &version})
	}, func(m wire.Machine) string {
		if m.PinnedVersion == "" {
			return "Unpinned: " + m.Name + " follows its channel again."
		}
		return "Pinned " + m.Name + " to " + m.PinnedVersion + "."
	})
}

func splitTags(s string) []string {
	var out []string
	for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, strings.ToLower(t))
	}
	return out
}

func (w *Web) tokens(rw http.ResponseWriter, r *http.Request, s store.Session) {
	ts, err := w.fl.ListTokens(r.Context(), w.actor(r, s))
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	enrolled, err := w.db.MachinesByToken(r.Context())
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	// Used up, expired and revoked tokens are history: shown on request.
	all := r.URL.Query().Get("all") == "1"
	var shown []tokenRow
	hidden := 0
	for _, t := range ts {
		if t.State != "active" && !all {
			hidden++
			continue
		}
		ms := enrolled[t.ID]
		tr := tokenRow{Token: t, Machines: ms[:min(len(ms), 5)], More: max(0, len(ms)-5)}
		shown = append(shown, tr)
	}
	w.render(rw, r, "tokens", http.StatusOK, page{Title: "Enrollment tokens", Nav: "tokens", Admin: s.Admin.Name, CSRF: s.CSRF,
		Flash: w.message(rw, r, "f"), Error: w.message(rw, r, "e"), Data: map[string]any{"Tokens": shown, "Hidden": hidden, "All": all}})
}

// createdToken is a token with its secret, shown once.
type createdToken struct {
	Token  wire.Token
	Secret string
}

// tokenRow is a token with the machines enrolled with it (the first few).
type tokenRow struct {
	wire.Token
	Machines []store.MachineRef
	More     int
}

func (w *Web) createToken(rw http.ResponseWriter, r *http.Request, s store.Session) {
	back := func(msg string) { w.redirect(rw, r, "/tokens", "", msg) }
	spec := fleet.TokenSpec{
		Reusable:  r.PostFormValue("reusable") == "on",
		Ephemeral: r.PostFormValue("ephemeral") == "on",
		Tags:      splitTags(r.PostFormValue("tags")), // no expiry given: the service's default
	}
	if v := strings.TrimSpace(r.PostFormValue("max_uses")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			back("Max uses must be a number from 0 (unlimited) to 1000000.")
			return
		}
		spec.MaxUses = n
	}
	if v := strings.TrimSpace(r.PostFormValue("expires")); v != "" {
		ttl, err := fleet.ParseTTL(v)
		if err != nil {
			back("Expiry must be a duration such as 1h, 24h or 720h (at most a year).")
			return
		}
		spec.TTL = ttl
	}
	t, sec, err := w.fl.CreateToken(r.Context(), w.actor(r, s), spec)
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) && we.Code != wire.CodeInternal {
			back(we.Message)
			return
		}
		w.internal(rw, r, err)
		return
	}
	// Post/Redirect/Get: the secret waits (in memory, for this session, for
	// one view) behind a redirect, so reloading the page never mints
	// another token.
	http.Redirect(rw, r, "/tokens/created/"+w.fresh.put(s.CSRF, createdToken{t, sec}), http.StatusSeeOther)
}

// tokenCreated shows a token's secret, once.
func (w *Web) tokenCreated(rw http.ResponseWriter, r *http.Request, s store.Session) {
	ct, ok := w.fresh.take(r.PathValue("key"), s.CSRF)
	t, sec := ct.Token, ct.Secret
	if !ok {
		w.fail(rw, r, http.StatusGone, "A token's secret is shown once, and this one was shown already (or this page is from another session). It is not kept: create another token, and revoke the old one if it was lost.")
		return
	}
	var srv oneliner.Server
	if w.cfg.Server != nil {
		srv = w.cfg.Server()
	}
	w.render(rw, r, "token_created", http.StatusOK, page{Title: "Token created", Nav: "tokens", Admin: s.Admin.Name, CSRF: s.CSRF,
		Data: map[string]any{"Token": t, "Secret": sec, "Lines": oneliner.For(srv, sec), "Warnings": oneliner.Warnings(srv.URL)}})
}

func (w *Web) revokeToken(rw http.ResponseWriter, r *http.Request, s store.Session) {
	t, err := w.fl.RevokeToken(r.Context(), w.actor(r, s), r.PathValue("id"))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			w.redirect(rw, r, "/tokens", "", "No such token.")
			return
		}
		w.internal(rw, r, err)
		return
	}
	w.redirect(rw, r, "/tokens", "Token "+t.Prefix+"… revoked.", "")
}

// until says how long until t ("in 3 days"), for expiries.
func (w *Web) until(t *time.Time) string {
	if t == nil {
		return "never"
	}
	d := t.Sub(w.now())
	switch {
	case d <= 0:
		return "now"
	case d < time.Hour:
		return fmt.Sprintf("in %d min", int(d.Minutes())+1)
	case d < 48*time.Hour:
		return fmt.Sprintf("in %d h", int(d.Hours()))
	default:
		return fmt.Sprintf("in %d days (%s)", int(d.Hours()/24), t.UTC().Format("2006-01-02"))
	}
}

// ago renders a time as "2 min ago".
func (w *Web) ago(t *time.Time) string {
	if t == nil {
		return "never"
	}
	d := w.now().Sub(*t)
	switch {
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	}
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func pct(used, total uint64) string {
	if total == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", float64(used)*100/float64(total))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// chart draws CPU and memory use over the stored history as an inline SVG
// (oldest on the left). Built from numbers only, so it is safe to mark as
// HTML.
func chart(history []wire.HealthReport) template.HTML {
	if len(history) < 2 {
		return ""
	}
	const w, h = 600.0, 120.0
	n := len(history)
	line := func(val func(wire.HealthReport) float64) string {
		var b strings.Builder
		for i := range n {
			r := history[n-1-i] // history is newest first
			x := float64(i) * w / float64(n-1)
			y := h - min(max(val(r), 0), 100)*h/100
			fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
		}
		return strings.TrimSpace(b.String())
	}
	cpu := line(func(r wire.HealthReport) float64 { return r.CPUPercent })
	mem := line(func(r wire.HealthReport) float64 {
		if r.MemTotal == 0 {
			return 0
		}
		return float64(r.MemUsed) * 100 / float64(r.MemTotal)
	})
	return template.HTML(fmt.Sprintf(`<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="CPU and memory use, last %d reports">`+
		`<line x1="0" y1="%.0f" x2="%.0f" y2="%.0f" class="grid"/><polyline class="cpu" points="%s"/><polyline class="mem" points="%s"/></svg>`,
		w, h, n, h/2, w, h/2, cpu, mem))
}
