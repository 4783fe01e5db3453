package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// Health reports are telemetry: they are acknowledged once queued and
// written in batches (one transaction per batch), so 10,000 agents
// reporting every 30 s cost a few commits a second, not 333 fsyncs. A crash
// may lose the last fraction of a second of reports; it can never lose a
// token use, an enrollment or a revocation, which commit before answering.
const (
	healthQueue   = 65536
	healthBatch   = 2000
	healthEvery   = 250 * time.Millisecond
	healthHistory = 120 // per machine: an hour at the default 30 s interval
)

// healthRetries are the waits before a failed batch is written again.
var healthRetries = []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	m := machineFrom(r.Context())
	var rep wire.HealthReport
	if err := decodeJSON(w, r, &rep); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := rep.Validate(); err != nil {
		s.writeError(w, r, err)
		return
	}
	now := s.now()
	select {
	case s.healthq <- store.HealthEntry{MachineID: m.ID, ReceivedAt: now, Report: rep}:
	default:
		s.writeError(w, r, wire.Errorf(wire.CodeUnavailable, "health queue full; retry later"))
		return
	}
	s.pres.Seen(m.ID, now)
	for k, n := range rep.FlagUsage {
		if n > 0 {
			s.ofrep.countN(k, "machine:"+m.ID, n, now)
		}
	}
	if u := rep.Update; u != nil {
		s.m.updates.WithLabelValues(u.State).Inc() // Validate allows only the three outcomes
	}
	ack := wire.HealthAck{Pin: m.PinnedVersion}
	if rs := s.fl.Releases(); rs != nil {
		ack.Releases = rs.Tag()
	}
	writeJSON(w, http.StatusAccepted, ack)
}

// RunHealthWriter writes queued health reports in batches until ctx ends,
// then writes what is left.
func (s *Server) RunHealthWriter(ctx context.Context) {
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	batch := make([]store.HealthEntry, 0, healthBatch)
	flush := func(ctx context.Context) {
		if len(batch) == 0 {
			return
		}
		// The reports were acknowledged: a failed write (a deadlock, a
		// replica failing over) is tried again before they are given up.
		for attempt := 0; ; attempt++ {
			err := s.fl.SaveHealth(ctx, batch, healthHistory)
			if err == nil {
				break
			}
			s.m.dbErrors.WithLabelValues("health").Inc()
			if attempt == len(healthRetries) || ctx.Err() != nil {
				s.log.Error("writing health reports; these are lost", "reports", len(batch), "err", err)
				break
			}
			s.log.Warn("writing health reports; trying again", "reports", len(batch), "in", healthRetries[attempt], "err", err)
			select {
			case <-time.After(healthRetries[attempt]):
			case <-ctx.Done():
			}
		}
		batch = batch[:0]
	}
	for {
		select {
		case e := <-s.healthq:
			batch = append(batch, e)
			if len(batch) >= healthBatch {
				flush(ctx)
			}
		case <-t.C:
			flush(ctx)
		case <-ctx.Done():
		drain:
			for {
				select {
				case e := <-s.healthq:
					batch = append(batch, e)
				default:
					break drain
				}
			}
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			flush(fctx)
			cancel()
			return
		}
	}
}

func (s *Server) getHealth(w http.ResponseWriter, r *http.Request) {
	limit := 60
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > healthHistory {
			s.writeError(w, r, wire.Errorf(wire.CodeInvalidArgument, "limit must be 0–%d", healthHistory))
			return
		}
		limit = n
	}
	if _, err := s.fl.Machine(r.Context(), adminFrom(r.Context()), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	h, err := s.db.Health(r.Context(), r.PathValue("id"), limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	m := wire.Machine{ID: h.MachineID, State: wire.MachineActive}
	if got, err := s.db.Machine(r.Context(), h.MachineID); err == nil {
		m = got
	}
	s.decorate(&m)
	h.Online = m.Online
	writeJSON(w, http.StatusOK, h)
}
