// Package presence knows which machines are there: the long-polls each
// holds on this replica right now, and when each was last heard from (a
// poll or a health report). Last-seen times are written to the database
// in batches, so that polls cost no writes.
//
// It was part of the network-map hub, which it has nothing to do with
// beyond counting polls for the hub's wake-up pacing.
package presence

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// OnlineWithin is how recently a machine without a held poll must have
// been heard from to count as online.
const OnlineWithin = 2 * time.Minute

// Store is where last-seen times go.
type Store interface {
	TouchLastSeen(ctx context.Context, seen map[string]time.Time) error
}

// Tracker tracks presence. Create it with New.
type Tracker struct {
	st  Store
	log *slog.Logger
	now func() time.Time

	// Open long-polls, under a lock of their own: every poll takes it
	// twice.
	connMu    sync.Mutex
	connected map[string]int
	nconn     atomic.Int64

	seenMu sync.Mutex
	seen   map[string]time.Time
}

// New returns a tracker writing last-seen times to st.
func New(st Store, log *slog.Logger) *Tracker {
	return &Tracker{st: st, log: log, now: time.Now, connected: map[string]int{}, seen: map[string]time.Time{}}
}

// Connect records a live long-poll from machine id; call the returned
// function when it ends.
func (t *Tracker) Connect(id string) (release func()) {
	t.connMu.Lock()
	t.connected[id]++
	t.connMu.Unlock()
	t.nconn.Add(1)
	return func() {
		t.connMu.Lock()
		if t.connected[id]--; t.connected[id] <= 0 {
			delete(t.connected, id)
		}
		t.connMu.Unlock()
		t.nconn.Add(-1)
		// The agent was there until now: a poll it re-opens in a moment
		// must not find it counted as long gone.
		t.Seen(id, t.now())
	}
}

// Connected returns the number of open long-polls.
func (t *Tracker) Connected() int { return int(t.nconn.Load()) }

// IsConnected reports whether machine id holds a long-poll right now.
func (t *Tracker) IsConnected(id string) bool {
	t.connMu.Lock()
	defer t.connMu.Unlock()
	return t.connected[id] > 0
}

// HeardSince reports whether machine id holds a long-poll now or was heard
// from after since by this replica (including times not yet written to
// the database).
func (t *Tracker) HeardSince(id string, since time.Time) bool {
	if t.IsConnected(id) {
		return true
	}
	t.seenMu.Lock()
	defer t.seenMu.Unlock()
	at, ok := t.seen[id]
	return ok && at.After(since)
}

// Seen notes that machine id was heard from at at.
func (t *Tracker) Seen(id string, at time.Time) {
	t.seenMu.Lock()
	t.seen[id] = at
	t.seenMu.Unlock()
}

// Flush writes the pending last-seen times now.
func (t *Tracker) Flush(ctx context.Context) {
	t.seenMu.Lock()
	batch := t.seen
	t.seen = make(map[string]time.Time, len(batch))
	t.seenMu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := t.st.TouchLastSeen(ctx, batch); err != nil {
		t.log.Warn("presence: record last-seen times", "machines", len(batch), "err", err)
	}
}

// Run flushes every flushEvery until ctx ends, then once more.
func (t *Tracker) Run(ctx context.Context, flushEvery time.Duration) {
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			t.Flush(fctx)
			cancel()
			return
		case <-tick.C:
			t.Flush(ctx)
		}
	}
}

// Online reports whether an active machine is online: it holds a
// long-poll now, or was heard from (poll or health report) within
// OnlineWithin.
func (t *Tracker) Online(m wire.Machine, now time.Time) bool {
	if m.State != wire.MachineActive {
		return false
	}
	return t.IsConnected(m.ID) || (m.LastSeen != nil && now.Sub(*m.LastSeen) < OnlineWithin)
}
