package routes

import "time"

// Silence is how long a route's carrier may stay silent while this
// machine sends to it before the client moves the route to a standby by
// itself. The server moves it too once it sees the router gone, but it
// sees a router's process die at once and its network die only when its
// relay session times out (tens of seconds).
const Silence = 2 * time.Second

// FirstContact is how long a carrier that has not answered this machine
// yet may stay silent: the first handshake with a standby that was idle
// may take a WireGuard retry (5 s). Passing over a standby after 2 s sent
// clients back to the dead primary they had just left.
const FirstContact = 6 * time.Second

// Liveness tells, from a peer's WireGuard byte counters, that it stopped
// answering: this machine keeps sending to it and receives nothing for
// Silence (FirstContact until it has answered once). A peer marked down
// is up again as soon as it sends anything. It is not safe for
// concurrent use.
type Liveness struct {
	Silence time.Duration // 0: the package's Silence
	peers   map[string]*seen
}

type seen struct {
	tx, rx   int64
	heardAt  time.Time // rx last moved (or first observed)
	sendFrom time.Time // tx moved since heardAt, first at this time (zero: not)
	down     bool
	answered bool // rx moved while observed: the peer has answered us
}

// Observe records a peer's counters at now; it reports whether the peer
// went down or came back.
func (l *Liveness) Observe(id string, tx, rx int64, now time.Time) bool {
	if l.peers == nil {
		l.peers = map[string]*seen{}
	}
	silence := l.Silence
	if silence <= 0 {
		silence = Silence
	}
	s := l.peers[id]
	if s == nil {
		l.peers[id] = &seen{tx: tx, rx: rx, heardAt: now}
		return false
	}
	was := s.down
	switch {
	case rx != s.rx:
		s.heardAt, s.sendFrom, s.down, s.answered = now, time.Time{}, false, true
	case tx != s.tx && s.sendFrom.IsZero():
		s.sendFrom = now
	}
	s.tx, s.rx = tx, rx
	if !s.answered {
		silence = max(silence, FirstContact)
	}
	if !s.sendFrom.IsZero() && now.Sub(s.sendFrom) >= silence && now.Sub(s.heardAt) >= silence {
		s.down = true
	}
	return s.down != was
}

// Down reports whether the peer stopped answering.
func (l *Liveness) Down(id string) bool {
	s := l.peers[id]
	return s != nil && s.down
}

// Forget drops peers not in keep (they no longer carry routes).
func (l *Liveness) Forget(keep map[string]bool) {
	for id := range l.peers {
		if !keep[id] {
			delete(l.peers, id)
		}
	}
}
