package web

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// flowRow is a flow record as the Flows page shows it: machines by name.
type flowRow struct {
	wire.FlowRecord
	SrcName, DstName, ReporterName string
}

// talkerRow is a top talker with names.
type talkerRow struct {
	store.Talker
	SrcName, DstName string
	SrcURL, DstURL   string
}

// flowRanges are the time ranges the page offers.
var flowRanges = []struct{ Key, Label string }{{"1h", "the last hour"}, {"24h", "the last day"}, {"168h", "the last week"}, {"720h", "the last 30 days"}}

func (w *Web) flowsPage(rw http.ResponseWriter, r *http.Request, s store.Session) {
	q := r.URL.Query()
	rng := q.Get("range")
	if rng == "" {
		rng = "24h"
	}
	d, err := time.ParseDuration(rng)
	if err != nil || d <= 0 {
		w.fail(rw, r, http.StatusBadRequest, "The time range is malformed.")
		return
	}
	fq := store.FlowQuery{Since: w.now().Add(-d), Verdict: q.Get("verdict"), Limit: 100}
	switch fq.Verdict {
	case "", wire.FlowAllowed, wire.FlowDenied:
	default:
		w.fail(rw, r, http.StatusBadRequest, "The verdict is allowed or denied.")
		return
	}
	if m := q.Get("machine"); m != "" {
		mm, err := w.db.Machine(r.Context(), m)
		if err != nil {
			w.fail(rw, r, http.StatusNotFound, "No machine is called "+m+".")
			return
		}
		fq.Machine = mm.ID
	}
	if a := q.Get("addr"); a != "" {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			w.fail(rw, r, http.StatusBadRequest, "The address is malformed.")
			return
		}
		fq.Addr = ip.String()
	}
	if p := q.Get("port"); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			w.fail(rw, r, http.StatusBadRequest, "A port is 1–65535.")
			return
		}
		fq.Port = uint16(n)
	}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			w.fail(rw, r, http.StatusBadRequest, "The page link is malformed.")
			return
		}
		fq.Before = n
	}
	recs, next, err := w.db.Flows(r.Context(), fq)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	top, err := w.db.TopTalkers(r.Context(), fq, 10)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	denied := fq
	denied.Verdict, denied.Before, denied.Limit = wire.FlowDenied, 0, 20
	deniedRecs, _, err := w.db.Flows(r.Context(), denied)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	var ids []string
	for _, set := range [][]wire.FlowRecord{recs, deniedRecs} {
		for _, rec := range set {
			ids = append(ids, rec.SrcMachine, rec.DstMachine, rec.Reporter)
		}
	}
	for _, t := range top {
		ids = append(ids, t.Src, t.Dst)
	}
	known, err := w.db.MachineNames(r.Context(), ids)
	if err != nil {
		w.internal(rw, r, err)
		return
	}
	names := func(id, fallback string) string {
		if n, ok := known[id]; ok && id != "" {
			return n
		}
		return fallback
	}
	rows := func(recs []wire.FlowRecord) []flowRow {
		out := make([]flowRow, 0, len(recs))
		for _, rec := range recs {
			out = append(out, flowRow{FlowRecord: rec, SrcName: names(rec.SrcMachine, rec.Src), DstName: names(rec.DstMachine, rec.Dst), ReporterName: names(rec.Reporter, rec.Reporter)})
		}
		return out
	}
	var talkers []talkerRow
	for _, t := range top {
		tr := talkerRow{Talker: t, SrcName: names(t.Src, t.Src), DstName: names(t.Dst, t.Dst)}
		if tr.SrcName != t.Src {
			tr.SrcURL = "/machines/" + t.Src
		}
		if tr.DstName != t.Dst {
			tr.DstURL = "/machines/" + t.Dst
		}
		talkers = append(talkers, tr)
	}
	nextURL := ""
	if next > 0 {
		v := url.Values{"before": {strconv.FormatInt(next, 10)}}
		for _, k := range []string{"machine", "addr", "port", "verdict", "range"} {
			if q.Get(k) != "" {
				v.Set(k, q.Get(k))
			}
		}
		nextURL = "/flows?" + v.Encode()
	}
	w.render(rw, r, "flows", http.StatusOK, page{Title: "Flows", Nav: "flows", Admin: s.Admin.Name, CSRF: s.CSRF,
		Data: map[string]any{"Records": rows(recs), "Denied": rows(deniedRecs), "Talkers": talkers, "Next": nextURL, "Ranges": flowRanges,
			"Range": rng, "Machine": q.Get("machine"), "Addr": q.Get("addr"), "Port": q.Get("port"), "Verdict": fq.Verdict}})
}
