package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// routesPage lists what machines advertise as subnet routers and exit
// nodes, with approve and reject buttons.
func (w *Web) routesPage(rw http.ResponseWriter, r *http.Request, s store.Session) {
	rs, err := w.fl.Routes(r.Context())
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	pending := 0
	for _, rt := range rs {
		if rt.State == wire.RoutePending {
			pending++
		}
	}
	w.render(rw, r, "routes", http.StatusOK, page{Title: "Routes", Nav: "routes", Admin: s.Admin.Name, CSRF: s.CSRF,
		Flash: w.message(rw, r, "f"), Error: w.message(rw, r, "e"),
		Data: map[string]any{"Routes": rs, "Pending": pending}})
}

// decideRoute approves or rejects one route of a machine (an exit node's
// two default routes together).
func (w *Web) decideRoute(rw http.ResponseWriter, r *http.Request, s store.Session) {
	approve := r.PathValue("decision") == "approve"
	if !approve && r.PathValue("decision") != "reject" {
		w.fail(rw, r, http.StatusNotFound, "Decide with approve or reject.")
		return
	}
	prefix := strings.TrimSpace(r.PostFormValue("prefix"))
	d := wire.RouteDecision{}
	if wire.IsExitRoute(prefix) {
		d.ExitNode = true
	} else {
		d.Routes = []string{prefix}
	}
	m, err := w.fl.DecideRoutes(r.Context(), w.actor(r, s), r.PathValue("machine"), d, approve)
	back := "/routes"
	if ref := r.PostFormValue("back"); strings.HasPrefix(ref, "/machines/") {
		back = ref
	}
	if errors.Is(err, store.ErrNotFound) {
		w.fail(rw, r, http.StatusNotFound, "No such machine.")
		return
	}
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) && we.Code != wire.CodeInternal {
			w.redirect(rw, r, back, "", we.Message+" Nothing was changed.")
			return
		}
		w.internal(rw, r, err)
		return
	}
	what := "route " + prefix
	if d.ExitNode {
		what = "exit node"
	}
	verb := "Approved"
	if !approve {
		verb = "Rejected"
	}
	w.redirect(rw, r, back, verb+" "+m.Name+"'s "+what+"; clients follow with their next map.", "")
}

// routeAction is the form path deciding a machine's route.
func routeAction(machine, decision string) string {
	return "/routes/" + url.PathEscape(machine) + "/" + decision
}
