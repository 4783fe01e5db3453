package web

import (
	"errors"
	"net/http"
	"slices"

	"github.com/wirefleet/wirefleet/pkg/release"
	"github.com/wirefleet/wirefleet/pkg/version"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

type versionCount struct {
	Version  string
	Machines int
}

func (w *Web) updates(rw http.ResponseWriter, r *http.Request, s store.Session) {
	var channels []release.Manifest
	if rs := w.fl.Releases(); rs != nil {
		var err error
		if channels, err = rs.Channels(); err != nil {
			w.internal(rw, r, err)
			return
		}
	}
	ms, err := w.db.ListMachines(r.Context(), store.MachineFilter{State: wire.MachineActive})
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	counts := map[string]int{}
	for _, m := range ms {
		counts[m.AgentVersion]++
	}
	recent, err := w.db.RecentUpdates(r.Context(), 50)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	versions := versionsNewestFirst(counts)
	w.render(rw, r, "updates", http.StatusOK, page{Title: "Releases", Nav: "updates", Admin: s.Admin.Name, CSRF: s.CSRF,
		Flash: w.message(rw, r, "f"), Error: w.message(rw, r, "e"),
		Data: map[string]any{"Channels": channels, "Versions": versions, "Recent": recent}})
}

// versionsNewestFirst orders the agent versions in use by semantic
// version, newest first (as text, 1.10.0 sorted below 1.2.0).
func versionsNewestFirst(counts map[string]int) []versionCount {
	out := make([]versionCount, 0, len(counts))
	for v, n := range counts {
		out = append(out, versionCount{v, n})
	}
	slices.SortFunc(out, func(a, b versionCount) int { return version.Compare(b.Version, a.Version) })
	return out
}

func (w *Web) pause(rw http.ResponseWriter, r *http.Request, s store.Session) {
	ch, action := r.PathValue("channel"), r.PathValue("action")
	if w.fl.Releases() == nil || (action != "pause" && action != "resume") {
		w.fail(rw, r, http.StatusNotFound, "No such action.")
		return
	}
	if err := w.fl.PauseRollout(r.Context(), w.actor(r, s), ch, action == "pause"); err != nil {
		var we *wire.Error
		if errors.As(err, &we) && we.Code != wire.CodeInternal {
			w.redirect(rw, r, "/updates", "", we.Message)
			return
		}
		w.internal(rw, r, err)
		return
	}
	w.redirect(rw, r, "/updates", "Rollout of "+ch+" "+action+"d.", "")
}
