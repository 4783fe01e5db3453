package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// machineLive is what changes on a machine's page while it is open: the
// page draws it first, and its refresh asks for it again.
type machineLive struct {
	State    string    `json:"state"`
	LastSeen string    `json:"last_seen"`
	SeenAt   string    `json:"seen_at"`
	Health   string    `json:"health"`  // one line, or "No health report yet."
	Tunnel   string    `json:"tunnel"`  // the peers table's heading
	Down     string    `json:"down"`    // the tunnel's error ("" when up)
	Peers    []liveRow `json:"peers"`   // one row per tunnel peer
	Updated  string    `json:"updated"` // when the last report arrived
}

// liveRow is a table row: its key and its cells' text.
type liveRow struct {
	ID    string   `json:"id"`
	Cells []string `json:"cells"`
}

func (w *Web) liveOf(m wire.Machine, h wire.MachineHealth) machineLive {
	r := w.rowOf(m, w.now())
	l := machineLive{State: r.State, LastSeen: r.LastSeen, SeenAt: r.SeenAt, Health: "No health report yet.", Peers: []liveRow{}}
	if x := h.Latest; x != nil {
		l.Health = fmt.Sprintf("CPU %.0f%% · memory %.0f MiB of %.0f MiB · disk %.1f GiB of %.1f GiB",
			x.CPUPercent, float64(x.MemUsed)/(1<<20), float64(x.MemTotal)/(1<<20), float64(x.DiskUsed)/(1<<30), float64(x.DiskTotal)/(1<<30))
		if x.Kernel != "" {
			l.Health += " · kernel " + x.Kernel
		}
		if x.UptimeSec > 0 {
			l.Health += fmt.Sprintf(" · up %d s", x.UptimeSec)
		}
		l.Updated = w.ago(&x.At)
		l.Tunnel = fmt.Sprintf("Tunnel peers (%d of %d with a recent handshake)", x.Tunnel.Connected, x.Tunnel.PeerCount)
		l.Down = x.Tunnel.Error
		for _, p := range x.Tunnel.Peers {
			lat := ""
			if p.LatencyMS > 0 {
				lat = fmt.Sprintf("%.1f ms", p.LatencyMS)
			}
			l.Peers = append(l.Peers, liveRow{ID: p.ID, Cells: []string{p.Name, p.Path, p.Endpoint, lat, w.ago(p.LastProbe), w.ago(p.LastHandshake), humanBytes(p.RxBytes), humanBytes(p.TxBytes)}})
		}
	} else {
		l.Tunnel = "Tunnel peers"
	}
	return l
}

// machineLiveJSON is the machine page's refresh: 304 when nothing
// changed since the ETag the page sends back.
func (w *Web) machineLiveJSON(rw http.ResponseWriter, r *http.Request, s store.Session) {
	m, err := w.fl.Machine(r.Context(), w.actor(r, s), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		http.Error(rw, `{"error":"gone"}`, http.StatusNotFound)
		return
	}
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	h, err := w.db.Health(r.Context(), m.ID, 1)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	w.liveJSON(rw, r, w.liveOf(m, h))
}
